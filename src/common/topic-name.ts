import { TubeError } from './errors.js';
import { topicNameLengthMax } from './limits.js';

/** Topic names become directory names, so only a safe alphabet is allowed. */
export const topicNamePattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Whether `name` is a valid topic name (see {@link topicNamePattern} and `topicNameLengthMax`). */
export function isTopicName(name: unknown): name is string {
  return (
    typeof name === 'string' &&
    name.length > 0 &&
    name.length <= topicNameLengthMax &&
    topicNamePattern.test(name)
  );
}

/** Throws BAD_REQUEST, with a hint giving the rule, unless `name` is a valid topic name. */
export function checkTopicName(name: unknown): asserts name is string {
  if (!isTopicName(name)) {
    throw new TubeError('BAD_REQUEST', `invalid topic name ${JSON.stringify(name)}`, {
      hint: `use 1-${topicNameLengthMax} characters: letters, digits, '.', '_' or '-', starting with a letter or digit`,
    });
  }
}

/** NOT_FOUND for an unknown topic, worded the same by master, broker and client. */
export function topicNotFound(topic: string): TubeError {
  return new TubeError('NOT_FOUND', `topic ${JSON.stringify(topic)} does not exist`, {
    details: { topic },
    hint: `create it with \`tubemq topic create ${topic}\``,
  });
}
