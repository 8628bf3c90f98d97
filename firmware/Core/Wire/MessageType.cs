namespace TinyMlops.Firmware.Core.Wire
{
    /// <summary>
    /// Message types of the device wire format (docs/wire-format.md), and the one registry that maps a type byte to
    /// its message class. Adding a message: its file under Messages/ and one line in <see cref="Create"/>.
    /// </summary>
    public static class MessageType
    {
        /// <summary>Node health: memory, uptime, model, timings, counters.</summary>
        public const int Telemetry = 1;

        /// <summary>A window the detector found suspicious, with its score and the raw samples.</summary>
        public const int Event = 2;

        /// <summary>The gateway's verdict on an event.</summary>
        public const int Verdict = 3;

        /// <summary>A signed model-update manifest offered to a node.</summary>
        public const int OtaOffer = 4;

        /// <summary>One piece of a model payload.</summary>
        public const int OtaChunk = 5;

        /// <summary>A node's report on an update: state, next offset wanted, installed sequence.</summary>
        public const int OtaStatus = 6;

        /// <summary>An empty message of <paramref name="type"/>, or null for a type this format does not have.</summary>
        public static WireMessage? Create(int type)
        {
            switch (type)
            {
                case Telemetry: return new TelemetryMessage();
                case Event: return new EventMessage();
                case Verdict: return new VerdictMessage();
                case OtaOffer: return new OtaOfferMessage();
                case OtaChunk: return new OtaChunkMessage();
                case OtaStatus: return new OtaStatusMessage();
                default: return null;
            }
        }
    }
}
