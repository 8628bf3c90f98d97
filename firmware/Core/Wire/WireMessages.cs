namespace TinyMlops.Firmware.Core.Wire
{
    /// <summary>Message types of the device wire format (docs/wire-format.md).</summary>
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
    }

    /// <summary>Fields every message carries. Instances are plain data; not thread-safe.</summary>
    public abstract class WireMessage
    {
        /// <summary>Message type (<see cref="MessageType"/>).</summary>
        public abstract int Type { get; }

        /// <summary>
        /// The sender's boot count: a node persists it and adds one at every start (<see cref="Node.BootCounter"/>), so
        /// with <see cref="Sequence"/> it names a message across reboots. 0 on messages from the gateway.
        /// </summary>
        public uint Boot;

        /// <summary>Per-sender sequence number, incremented for every message sent; starts again at every boot.</summary>
        public uint Sequence;

        /// <summary>Send time in Unix milliseconds (0 when the node's clock is not set yet).</summary>
        public long TimestampMs;
    }

    /// <summary>Node health report.</summary>
    public sealed class TelemetryMessage : WireMessage
    {
        /// <inheritdoc />
        public override int Type
        {
            get { return MessageType.Telemetry; }
        }

        /// <summary>Seconds since boot.</summary>
        public uint UptimeSeconds;

        /// <summary>Free managed heap in bytes.</summary>
        public uint FreeMemoryBytes;

        /// <summary>Id of the running model (0 = none).</summary>
        public uint ModelId;

        /// <summary>Version of the running model.</summary>
        public uint ModelVersion;

        /// <summary>Slot the model runs from (0 = A, 1 = B, 255 = none).</summary>
        public int ModelSlot;

        /// <summary>Update state (<see cref="Updates.UpdateState"/>).</summary>
        public int UpdateState;

        /// <summary>Wi-Fi signal strength in dBm.</summary>
        public int RssiDbm;

        /// <summary>Duration of the last features + inference, in microseconds.</summary>
        public uint InferenceMicros;

        /// <summary>Windows processed since boot.</summary>
        public uint Windows;

        /// <summary>Events published since boot.</summary>
        public uint Events;

        /// <summary>Windows dropped (sensor errors, NaN samples, queue full) since boot.</summary>
        public uint Dropped;

        /// <summary>Last error code (0 = none).</summary>
        public int LastError;
    }

    /// <summary>A suspicious window: detector score plus the raw samples for the gateway's verifier.</summary>
    public sealed class EventMessage : WireMessage
    {
        /// <inheritdoc />
        public override int Type
        {
            get { return MessageType.Event; }
        }

        /// <summary>Detector model id.</summary>
        public uint ModelId;

        /// <summary>Detector model version.</summary>
        public uint ModelVersion;

        /// <summary>Detector output (integer units of the model's output tensor).</summary>
        public int Score;

        /// <summary>The model's threshold (same units as <see cref="Score"/>).</summary>
        public int Threshold;

        /// <summary>Score in real units.</summary>
        public float RealScore;

        /// <summary>Samples per second per axis.</summary>
        public int SampleRateHz;

        /// <summary>Feature vector the detector saw (may be empty).</summary>
        public float[] Features = new float[0];

        /// <summary>Axis count (3).</summary>
        public int Axes = 3;

        /// <summary>Samples per axis.</summary>
        public int WindowLength;

        /// <summary>g per count of <see cref="Samples"/>.</summary>
        public float SampleScale;

        /// <summary>Samples, axis-major (all x, then y, then z), in counts of <see cref="SampleScale"/>.</summary>
        public short[] Samples = new short[0];
    }

    /// <summary>The gateway's verdict on one event.</summary>
    public sealed class VerdictMessage : WireMessage
    {
        /// <inheritdoc />
        public override int Type
        {
            get { return MessageType.Verdict; }
        }

        /// <summary>Sequence number of the event this answers.</summary>
        public uint EventSequence;

        /// <summary>Version of the verifier model that decided.</summary>
        public uint VerifierVersion;

        /// <summary>Predicted class index.</summary>
        public int ClassId;

        /// <summary>True when the class is a fault (raise the alarm).</summary>
        public bool IsFault;

        /// <summary>Probability of <see cref="ClassId"/>.</summary>
        public float Probability;

        /// <summary>Class name (UTF-8, at most <see cref="WireCodec.MaxLabelBytes"/> bytes).</summary>
        public string Label = "";
    }

    /// <summary>A model-update offer: the signed manifest bytes (see <see cref="Updates.UpdateManifest"/>).</summary>
    public sealed class OtaOfferMessage : WireMessage
    {
        /// <inheritdoc />
        public override int Type
        {
            get { return MessageType.OtaOffer; }
        }

        /// <summary>Encoded, signed manifest.</summary>
        public byte[] Manifest = new byte[0];
    }

    /// <summary>One piece of a model payload.</summary>
    public sealed class OtaChunkMessage : WireMessage
    {
        /// <inheritdoc />
        public override int Type
        {
            get { return MessageType.OtaChunk; }
        }

        /// <summary>Release sequence number the chunk belongs to.</summary>
        public uint ReleaseSequence;

        /// <summary>Byte offset of <see cref="Data"/> in the payload.</summary>
        public int Offset;

        /// <summary>Payload bytes.</summary>
        public byte[] Data = new byte[0];
    }

    /// <summary>A node's update status: what it holds and what it wants next.</summary>
    public sealed class OtaStatusMessage : WireMessage
    {
        /// <inheritdoc />
        public override int Type
        {
            get { return MessageType.OtaStatus; }
        }

        /// <summary>Release the status is about (0 = none).</summary>
        public uint ReleaseSequence;

        /// <summary><see cref="Updates.UpdateState"/>.</summary>
        public int State;

        /// <summary><see cref="Updates.UpdateError"/> (0 = none).</summary>
        public int Error;

        /// <summary>Next payload offset the node wants (resume point).</summary>
        public int NextOffset;

        /// <summary>Sequence of the confirmed, running model.</summary>
        public uint InstalledSequence;
    }
}
