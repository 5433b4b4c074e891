// JOIN_GROUP, GROUP_HEARTBEAT, LEAVE_GROUP (consumers) and LIST_GROUPS, DESCRIBE_GROUP,
// RESET_GROUP_OFFSETS, DELETE_GROUP (admins): the wire side of the group coordinator.
import {
  deleteGroupMessage,
  describeGroupMessage,
  groupHeartbeatMessage,
  joinGroupMessage,
  leaveGroupMessage,
  listGroupsMessage,
  resetGroupOffsetsMessage,
  type RequestHandler,
} from '../protocol/index.js';
import type { GroupCoordinator } from './group-coordinator.js';
import { jsonHandler } from './master-context.js';

/** Handlers of the consumer-group messages, by opcode. */
export function groupHandlers(groups: GroupCoordinator): [number, RequestHandler][] {
  return [
    jsonHandler(joinGroupMessage, (request, session) => groups.join(request, session)),
    jsonHandler(groupHeartbeatMessage, (request) => groups.heartbeat(request)),
    jsonHandler(leaveGroupMessage, ({ group, memberId }) => {
      groups.leave(group, memberId);
      return {};
    }),
    jsonHandler(listGroupsMessage, () => groups.listGroups()),
    jsonHandler(describeGroupMessage, ({ group }) => groups.describe(group)),
    jsonHandler(resetGroupOffsetsMessage, async ({ group, offsets, force }) => ({
      committed: await groups.resetOffsets(group, offsets, force === true),
    })),
    jsonHandler(deleteGroupMessage, async ({ group }) => ({
      deletedOffsets: await groups.deleteGroup(group),
    })),
  ];
}
