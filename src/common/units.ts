/** Bytes in a kibibyte (2^10). */
export const KiB = 1024;

/** Bytes in a mebibyte (2^20). */
export const MiB = 1024 * KiB;

/** Bytes in a gibibyte (2^30). */
export const GiB = 1024 * MiB;
