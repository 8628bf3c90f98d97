namespace TinyMlops.Firmware.Core.Node
{
    /// <summary>
    /// MQTT topics of one node. A node publishes only under <c>tinymlops/{node}/up/…</c> and subscribes only to
    /// <c>tinymlops/{node}/down/…</c>; the gateway's ACLs enforce exactly that split.
    /// </summary>
    public sealed class Topics
    {
        /// <summary>Root of every TinyMlops topic.</summary>
        public const string Root = "tinymlops";

        /// <summary>Builds the topics of <paramref name="nodeId"/> (letters, digits, '-', '_' and '.' only).</summary>
        public Topics(string nodeId)
        {
            if (!IsValidNodeId(nodeId))
            {
                throw new System.ArgumentException("node id must be 1-64 characters of letters, digits, '-', '_' or '.'", "nodeId");
            }

            string up = Root + "/" + nodeId + "/up/";
            string down = Root + "/" + nodeId + "/down/";
            Telemetry = up + "telemetry";
            Event = up + "event";
            OtaStatus = up + "ota-status";
            Status = up + "status";
            Verdict = down + "verdict";
            OtaOffer = down + "ota-offer";
            OtaChunk = down + "ota-chunk";
            DownWildcard = down + "#";
        }

        /// <summary>Health telemetry (node → gateway).</summary>
        public readonly string Telemetry;

        /// <summary>Suspicious windows (node → gateway).</summary>
        public readonly string Event;

        /// <summary>Update progress (node → gateway).</summary>
        public readonly string OtaStatus;

        /// <summary>Retained "online"/"offline" (the last will).</summary>
        public readonly string Status;

        /// <summary>Verdicts (gateway → node).</summary>
        public readonly string Verdict;

        /// <summary>Update manifests (gateway → node).</summary>
        public readonly string OtaOffer;

        /// <summary>Update payload chunks (gateway → node).</summary>
        public readonly string OtaChunk;

        /// <summary>Everything the node subscribes to.</summary>
        public readonly string DownWildcard;

        /// <summary>
        /// True for ids a node may never have: those of the gateway's own broker sessions and users (anything starting
        /// with "gateway" or "tinymlops", in any case). A node under such an id could pass for the gateway.
        /// </summary>
        public static bool IsReservedId(string nodeId)
        {
            return nodeId != null && (StartsWithIgnoreCase(nodeId, "gateway") || StartsWithIgnoreCase(nodeId, "tinymlops"));
        }

        /// <summary>True when <paramref name="nodeId"/> may be given to a node: valid and not reserved.</summary>
        public static bool IsAssignableNodeId(string nodeId)
        {
            return IsValidNodeId(nodeId) && !IsReservedId(nodeId);
        }

        private static bool StartsWithIgnoreCase(string s, string lowerPrefix)
        {
            if (s.Length < lowerPrefix.Length)
            {
                return false;
            }

            for (int i = 0; i < lowerPrefix.Length; i++)
            {
                char c = s[i];
                if (c >= 'A' && c <= 'Z')
                {
                    c = (char)(c + 32);
                }

                if (c != lowerPrefix[i])
                {
                    return false;
                }
            }

            return true;
        }

        /// <summary>True when <paramref name="nodeId"/> is usable in a topic and as an MQTT client id.</summary>
        public static bool IsValidNodeId(string nodeId)
        {
            if (nodeId == null || nodeId.Length == 0 || nodeId.Length > 64)
            {
                return false;
            }

            for (int i = 0; i < nodeId.Length; i++)
            {
                char c = nodeId[i];
                bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.';
                if (!ok)
                {
                    return false;
                }
            }

            return true;
        }
    }
}
