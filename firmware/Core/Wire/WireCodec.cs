using TinyMlops.Firmware.Core.Common;

namespace TinyMlops.Firmware.Core.Wire
{
    /// <summary>
    /// Encodes and decodes device messages: a 20-byte header (version, type, payload length, boot count, sequence,
    /// timestamp), the payload, and a CRC32 over both. Little-endian throughout. docs/wire-format.md specifies every byte.
    /// Stateless and thread-safe.
    /// </summary>
    public static class WireCodec
    {
        /// <summary>
        /// Wire format version. Version 2 added the sender's boot count to the header, so that (node, boot, sequence)
        /// names a message across reboots; version 1 frames are refused.
        /// </summary>
        public const int Version = 2;

        /// <summary>Bytes before the payload.</summary>
        public const int HeaderSize = 20;

        /// <summary>Bytes after the payload (CRC32).</summary>
        public const int TrailerSize = 4;

        /// <summary>Largest payload accepted (a 4096-sample, 3-axis event is about 24.7 KiB).</summary>
        public const int MaxPayload = 32768;

        /// <summary>Longest verdict label in UTF-8 bytes.</summary>
        public const int MaxLabelBytes = 48;

        /// <summary>Most features an event carries.</summary>
        public const int MaxFeatures = 255;

        /// <summary>Largest OTA chunk.</summary>
        public const int MaxChunk = 16384;

        /// <summary>Largest frame: header, <see cref="MaxPayload"/> and CRC.</summary>
        public const int MaxFrame = HeaderSize + MaxPayload + TrailerSize;

        /// <summary>
        /// Largest event sample scale, g per count (int16 counts times this reach ±32,767 g, far beyond any
        /// accelerometer); a larger one is refused so that no sample becomes infinite when scaled back to g.
        /// </summary>
        public const float MaxSampleScale = 1f;

        /// <summary>Latest timestamp accepted, Unix ms (9999-12-31T23:59:59.999Z); 0 means the clock is not set.</summary>
        public const long MaxTimestampMs = 253402300799999;

        /// <summary>Encodes <paramref name="message"/> into a new frame.</summary>
        /// <exception cref="WireFormatException">A field does not fit the format (too long, out of range).</exception>
        public static byte[] Encode(WireMessage message)
        {
            byte[] b = new byte[FrameSize(message)];
            EncodeInto(message, b, 0);
            return b;
        }

        /// <summary>Bytes the frame of <paramref name="message"/> takes.</summary>
        /// <exception cref="WireFormatException">A field does not fit the format.</exception>
        public static int FrameSize(WireMessage message)
        {
            return HeaderSize + PayloadSize(message) + TrailerSize;
        }

        /// <summary>
        /// Encodes <paramref name="message"/> into <paramref name="buffer"/> at <paramref name="at"/> and returns the
        /// frame's length. Allocates nothing for telemetry, event and OTA status messages, so a node encodes into one
        /// buffer it allocated at start.
        /// </summary>
        /// <exception cref="WireFormatException">A field does not fit the format, or the buffer is too small.</exception>
        public static int EncodeInto(WireMessage message, byte[] buffer, int at)
        {
            int type = message.Type;
            int payload = PayloadSize(message);
            if (payload > MaxPayload)
            {
                throw new WireFormatException(WireError.TooLarge, "payload of " + payload + " bytes exceeds " + MaxPayload);
            }

            if (message.TimestampMs < 0 || message.TimestampMs > MaxTimestampMs)
            {
                throw new WireFormatException(WireError.BadField, "timestamp is outside 0 .. year 9999");
            }

            int total = HeaderSize + payload + TrailerSize;
            if (buffer == null || at < 0 || at > buffer.Length - total)
            {
                throw new WireFormatException(WireError.TooLarge, "the frame needs " + total + " bytes of buffer");
            }

            byte[] b = buffer;
            b[at] = Version;
            b[at + 1] = (byte)type;
            LittleEndian.WriteUInt16(b, at + 2, payload);
            LittleEndian.WriteUInt32(b, at + 4, message.Boot);
            LittleEndian.WriteUInt32(b, at + 8, message.Sequence);
            LittleEndian.WriteInt64(b, at + 12, message.TimestampMs);
            int o = at + HeaderSize;
            if (type == MessageType.Telemetry)
            {
                TelemetryMessage t = (TelemetryMessage)message;
                LittleEndian.WriteUInt32(b, o, t.UptimeSeconds);
                LittleEndian.WriteUInt32(b, o + 4, t.FreeMemoryBytes);
                LittleEndian.WriteUInt32(b, o + 8, t.ModelId);
                LittleEndian.WriteUInt32(b, o + 12, t.ModelVersion);
                b[o + 16] = (byte)t.ModelSlot;
                b[o + 17] = (byte)t.UpdateState;
                b[o + 18] = (byte)(sbyte)Clamp(t.RssiDbm, -128, 127);
                b[o + 19] = 0;
                LittleEndian.WriteUInt32(b, o + 20, t.InferenceMicros);
                LittleEndian.WriteUInt32(b, o + 24, t.Windows);
                LittleEndian.WriteUInt32(b, o + 28, t.Events);
                LittleEndian.WriteUInt32(b, o + 32, t.Dropped);
                LittleEndian.WriteUInt16(b, o + 36, Clamp(t.LastError, 0, 65535));
                LittleEndian.WriteUInt16(b, o + 38, 0);
            }
            else if (type == MessageType.Event)
            {
                EventMessage e = (EventMessage)message;
                LittleEndian.WriteUInt32(b, o, e.ModelId);
                LittleEndian.WriteUInt32(b, o + 4, e.ModelVersion);
                LittleEndian.WriteInt32(b, o + 8, e.Score);
                LittleEndian.WriteInt32(b, o + 12, e.Threshold);
                LittleEndian.WriteSingle(b, o + 16, e.RealScore);
                LittleEndian.WriteUInt16(b, o + 20, e.SampleRateHz);
                LittleEndian.WriteUInt16(b, o + 22, e.WindowLength);
                b[o + 24] = (byte)e.Axes;
                b[o + 25] = (byte)e.Features.Length;
                LittleEndian.WriteUInt16(b, o + 26, 0);
                LittleEndian.WriteSingle(b, o + 28, e.SampleScale);
                o += 32;
                for (int i = 0; i < e.Features.Length; i++)
                {
                    LittleEndian.WriteSingle(b, o, e.Features[i]);
                    o += 4;
                }

                short[] samples = e.Samples;
                int count = samples.Length;
                for (int i = 0; i < count; i++)
                {
                    int v = samples[i];
                    b[o] = (byte)v;
                    b[o + 1] = (byte)(v >> 8);
                    o += 2;
                }
            }
            else if (type == MessageType.Verdict)
            {
                VerdictMessage v = (VerdictMessage)message;
                byte[] label = System.Text.Encoding.UTF8.GetBytes(v.Label);
                LittleEndian.WriteUInt32(b, o, v.EventSequence);
                LittleEndian.WriteUInt32(b, o + 4, v.VerifierVersion);
                b[o + 8] = (byte)v.ClassId;
                b[o + 9] = (byte)(v.IsFault ? 1 : 0);
                b[o + 10] = (byte)label.Length;
                b[o + 11] = 0;
                LittleEndian.WriteSingle(b, o + 12, v.Probability);
                System.Array.Copy(label, 0, b, o + 16, label.Length);
            }
            else if (type == MessageType.OtaOffer)
            {
                OtaOfferMessage f = (OtaOfferMessage)message;
                System.Array.Copy(f.Manifest, 0, b, o, f.Manifest.Length);
            }
            else if (type == MessageType.OtaChunk)
            {
                OtaChunkMessage c = (OtaChunkMessage)message;
                LittleEndian.WriteUInt32(b, o, c.ReleaseSequence);
                LittleEndian.WriteInt32(b, o + 4, c.Offset);
                System.Array.Copy(c.Data, 0, b, o + 8, c.Data.Length);
            }
            else
            {
                OtaStatusMessage s = (OtaStatusMessage)message;
                LittleEndian.WriteUInt32(b, o, s.ReleaseSequence);
                b[o + 4] = (byte)s.State;
                b[o + 5] = (byte)s.Error;
                LittleEndian.WriteUInt16(b, o + 6, 0);
                LittleEndian.WriteInt32(b, o + 8, s.NextOffset);
                LittleEndian.WriteUInt32(b, o + 12, s.InstalledSequence);
            }

            int end = at + HeaderSize + payload;
            LittleEndian.WriteUInt32(b, end, Crc32.Compute(b, at, HeaderSize + payload));
            return total;
        }

        /// <summary>
        /// Decodes one frame of exactly <paramref name="count"/> bytes at <paramref name="offset"/>. Every length is
        /// checked against the frame before it is used.
        /// </summary>
        /// <exception cref="WireFormatException">The frame is malformed; <see cref="WireFormatException.Code"/> says how.</exception>
        public static WireMessage Decode(byte[] data, int offset, int count)
        {
            if (data == null || offset < 0 || count < 0 || offset > data.Length - count)
            {
                throw new WireFormatException(WireError.Truncated, "frame range is outside the buffer");
            }

            if (count < HeaderSize + TrailerSize)
            {
                throw new WireFormatException(WireError.Truncated, "frame of " + count + " bytes is shorter than header and CRC");
            }

            if (data[offset] != Version)
            {
                throw new WireFormatException(WireError.UnsupportedVersion, "wire version " + data[offset] + " is not supported");
            }

            int type = data[offset + 1];
            int payload = LittleEndian.ReadUInt16(data, offset + 2);
            if (payload > MaxPayload)
            {
                throw new WireFormatException(WireError.TooLarge, "payload of " + payload + " bytes exceeds " + MaxPayload);
            }

            if (HeaderSize + payload + TrailerSize != count)
            {
                throw new WireFormatException(WireError.Truncated, "header says " + payload + " payload bytes, the frame holds " + (count - HeaderSize - TrailerSize));
            }

            int end = offset + HeaderSize + payload;
            uint crc = Crc32.Compute(data, offset, HeaderSize + payload);
            if (crc != LittleEndian.ReadUInt32(data, end))
            {
                throw new WireFormatException(WireError.BadChecksum, "CRC32 mismatch");
            }

            int o = offset + HeaderSize;
            WireMessage m;
            if (type == MessageType.Telemetry)
            {
                Need(payload, 40, type);
                TelemetryMessage t = new TelemetryMessage();
                t.UptimeSeconds = LittleEndian.ReadUInt32(data, o);
                t.FreeMemoryBytes = LittleEndian.ReadUInt32(data, o + 4);
                t.ModelId = LittleEndian.ReadUInt32(data, o + 8);
                t.ModelVersion = LittleEndian.ReadUInt32(data, o + 12);
                t.ModelSlot = data[o + 16];
                t.UpdateState = data[o + 17];
                t.RssiDbm = (sbyte)data[o + 18];
                t.InferenceMicros = LittleEndian.ReadUInt32(data, o + 20);
                t.Windows = LittleEndian.ReadUInt32(data, o + 24);
                t.Events = LittleEndian.ReadUInt32(data, o + 28);
                t.Dropped = LittleEndian.ReadUInt32(data, o + 32);
                t.LastError = LittleEndian.ReadUInt16(data, o + 36);
                m = t;
            }
            else if (type == MessageType.Event)
            {
                if (payload < 32)
                {
                    throw new WireFormatException(WireError.BadLength, "event payload shorter than its 32-byte fixed part");
                }

                EventMessage e = new EventMessage();
                e.ModelId = LittleEndian.ReadUInt32(data, o);
                e.ModelVersion = LittleEndian.ReadUInt32(data, o + 4);
                e.Score = LittleEndian.ReadInt32(data, o + 8);
                e.Threshold = LittleEndian.ReadInt32(data, o + 12);
                e.RealScore = LittleEndian.ReadSingle(data, o + 16);
                e.SampleRateHz = LittleEndian.ReadUInt16(data, o + 20);
                e.WindowLength = LittleEndian.ReadUInt16(data, o + 22);
                e.Axes = data[o + 24];
                int features = data[o + 25];
                e.SampleScale = LittleEndian.ReadSingle(data, o + 28);
                if (e.Axes != 3)
                {
                    throw new WireFormatException(WireError.BadField, "event has " + e.Axes + " axes, expected 3");
                }

                if (e.SampleRateHz == 0 || e.WindowLength == 0)
                {
                    throw new WireFormatException(WireError.BadField, "event sample rate and window length must be positive");
                }

                if (!(e.SampleScale > 0f && e.SampleScale <= MaxSampleScale))
                {
                    throw new WireFormatException(WireError.BadField, "event sample scale must lie in (0, " + MaxSampleScale + "] g per count");
                }

                if (float.IsNaN(e.RealScore) || float.IsInfinity(e.RealScore))
                {
                    throw new WireFormatException(WireError.BadField, "event score is not finite");
                }

                int samples = e.Axes * e.WindowLength;
                if (32 + (4 * features) + (2 * samples) != payload)
                {
                    throw new WireFormatException(WireError.BadLength, "event declares " + features + " features and " + samples + " samples, which do not fill its " + payload + "-byte payload");
                }

                o += 32;
                e.Features = new float[features];
                for (int i = 0; i < features; i++)
                {
                    float f = LittleEndian.ReadSingle(data, o);
                    if (float.IsNaN(f) || float.IsInfinity(f))
                    {
                        throw new WireFormatException(WireError.BadField, "event feature " + i + " is not finite");
                    }

                    e.Features[i] = f;
                    o += 4;
                }

                e.Samples = new short[samples];
                for (int i = 0; i < samples; i++)
                {
                    e.Samples[i] = LittleEndian.ReadInt16(data, o);
                    o += 2;
                }

                m = e;
            }
            else if (type == MessageType.Verdict)
            {
                if (payload < 16)
                {
                    throw new WireFormatException(WireError.BadLength, "verdict payload shorter than its 16-byte fixed part");
                }

                VerdictMessage v = new VerdictMessage();
                v.EventSequence = LittleEndian.ReadUInt32(data, o);
                v.VerifierVersion = LittleEndian.ReadUInt32(data, o + 4);
                v.ClassId = data[o + 8];
                int fault = data[o + 9];
                int labelLength = data[o + 10];
                v.Probability = LittleEndian.ReadSingle(data, o + 12);
                if (fault > 1)
                {
                    throw new WireFormatException(WireError.BadField, "verdict fault flag must be 0 or 1");
                }

                if (!(v.Probability >= 0f && v.Probability <= 1f))
                {
                    throw new WireFormatException(WireError.BadField, "verdict probability must lie in [0, 1]");
                }

                if (labelLength > MaxLabelBytes || 16 + labelLength != payload)
                {
                    throw new WireFormatException(WireError.BadLength, "verdict label length " + labelLength + " does not fit its payload");
                }

                v.IsFault = fault == 1;
                v.Label = new string(System.Text.Encoding.UTF8.GetChars(data, o + 16, labelLength));
                m = v;
            }
            else if (type == MessageType.OtaOffer)
            {
                if (payload == 0)
                {
                    throw new WireFormatException(WireError.BadLength, "offer carries no manifest");
                }

                OtaOfferMessage f = new OtaOfferMessage();
                f.Manifest = new byte[payload];
                System.Array.Copy(data, o, f.Manifest, 0, payload);
                m = f;
            }
            else if (type == MessageType.OtaChunk)
            {
                if (payload < 8 || payload - 8 > MaxChunk)
                {
                    throw new WireFormatException(WireError.BadLength, "chunk payload of " + payload + " bytes is out of range");
                }

                OtaChunkMessage c = new OtaChunkMessage();
                c.ReleaseSequence = LittleEndian.ReadUInt32(data, o);
                c.Offset = LittleEndian.ReadInt32(data, o + 4);
                if (c.Offset < 0)
                {
                    throw new WireFormatException(WireError.BadField, "chunk offset is negative");
                }

                c.Data = new byte[payload - 8];
                System.Array.Copy(data, o + 8, c.Data, 0, payload - 8);
                m = c;
            }
            else if (type == MessageType.OtaStatus)
            {
                Need(payload, 16, type);
                OtaStatusMessage s = new OtaStatusMessage();
                s.ReleaseSequence = LittleEndian.ReadUInt32(data, o);
                s.State = data[o + 4];
                s.Error = data[o + 5];
                s.NextOffset = LittleEndian.ReadInt32(data, o + 8);
                s.InstalledSequence = LittleEndian.ReadUInt32(data, o + 12);
                if (s.NextOffset < 0)
                {
                    throw new WireFormatException(WireError.BadField, "status offset is negative");
                }

                m = s;
            }
            else
            {
                throw new WireFormatException(WireError.UnknownType, "unknown message type " + type);
            }

            m.Boot = LittleEndian.ReadUInt32(data, offset + 4);
            m.Sequence = LittleEndian.ReadUInt32(data, offset + 8);
            m.TimestampMs = LittleEndian.ReadInt64(data, offset + 12);
            if (m.TimestampMs < 0 || m.TimestampMs > MaxTimestampMs)
            {
                throw new WireFormatException(WireError.BadField, "timestamp is outside 0 .. year 9999");
            }

            return m;
        }

        /// <summary>Converts float samples (g) into the event's int16 counts; returns the scale (g per count).</summary>
        /// <remarks>Two passes over the three axes, the conversion inline: this runs for every suspicious window.</remarks>
        public static float QuantizeSamples(float[] x, float[] y, float[] z, short[] destination)
        {
            int n = x.Length;
            float max = 0f;
            for (int i = 0; i < n; i++)
            {
                float v = x[i];
                if (v < 0f)
                {
                    v = -v;
                }

                if (v > max)
                {
                    max = v;
                }

                v = y[i];
                if (v < 0f)
                {
                    v = -v;
                }

                if (v > max)
                {
                    max = v;
                }

                v = z[i];
                if (v < 0f)
                {
                    v = -v;
                }

                if (v > max)
                {
                    max = v;
                }
            }

            float scale = max > 0f ? max / 32767f : 1f / 32767f;
            if (!(scale <= MaxSampleScale))
            {
                scale = MaxSampleScale; // a sensor gone wild (or NaN) saturates at ±32,767 counts rather than making the frame unsendable
            }

            // Round half away from zero, clamp to ±32,767.
            int n2 = n + n;
            for (int i = 0; i < n; i++)
            {
                float c = x[i] / scale;
                int q = (int)(c >= 0f ? c + 0.5f : c - 0.5f);
                destination[i] = (short)(q > 32767 ? 32767 : (q < -32767 ? -32767 : q));
                c = y[i] / scale;
                q = (int)(c >= 0f ? c + 0.5f : c - 0.5f);
                destination[n + i] = (short)(q > 32767 ? 32767 : (q < -32767 ? -32767 : q));
                c = z[i] / scale;
                q = (int)(c >= 0f ? c + 0.5f : c - 0.5f);
                destination[n2 + i] = (short)(q > 32767 ? 32767 : (q < -32767 ? -32767 : q));
            }

            return scale;
        }

        private static int PayloadSize(WireMessage message)
        {
            int type = message.Type;
            if (type == MessageType.Telemetry)
            {
                return 40;
            }

            if (type == MessageType.Event)
            {
                EventMessage e = (EventMessage)message;
                if (e.Features.Length > MaxFeatures || e.Axes != 3 || e.WindowLength < 1 || e.WindowLength > 65535 || e.Samples.Length != e.Axes * e.WindowLength || e.SampleRateHz < 1 || e.SampleRateHz > 65535)
                {
                    throw new WireFormatException(WireError.BadField, "event fields do not fit the format (3 axes, samples = 3 x window, at most " + MaxFeatures + " features)");
                }

                return 32 + (4 * e.Features.Length) + (2 * e.Samples.Length);
            }

            if (type == MessageType.Verdict)
            {
                VerdictMessage v = (VerdictMessage)message;
                int label = System.Text.Encoding.UTF8.GetBytes(v.Label).Length;
                if (label > MaxLabelBytes || v.ClassId < 0 || v.ClassId > 255)
                {
                    throw new WireFormatException(WireError.BadField, "verdict label longer than " + MaxLabelBytes + " bytes or class id out of range");
                }

                return 16 + label;
            }

            if (type == MessageType.OtaOffer)
            {
                return ((OtaOfferMessage)message).Manifest.Length;
            }

            if (type == MessageType.OtaChunk)
            {
                OtaChunkMessage c = (OtaChunkMessage)message;
                if (c.Data.Length > MaxChunk || c.Offset < 0)
                {
                    throw new WireFormatException(WireError.BadField, "chunk longer than " + MaxChunk + " bytes or negative offset");
                }

                return 8 + c.Data.Length;
            }

            if (type == MessageType.OtaStatus)
            {
                return 16;
            }

            throw new WireFormatException(WireError.UnknownType, "unknown message type " + type);
        }

        private static void Need(int payload, int size, int type)
        {
            if (payload != size)
            {
                throw new WireFormatException(WireError.BadLength, "message type " + type + " has a " + size + "-byte payload, got " + payload);
            }
        }

        private static int Clamp(int v, int lo, int hi)
        {
            return v < lo ? lo : (v > hi ? hi : v);
        }
    }

    /// <summary>A frame could not be encoded or decoded.</summary>
    public class WireFormatException : System.Exception
    {
        /// <summary>Creates the exception.</summary>
        public WireFormatException(WireError code, string message)
            : base(message)
        {
            Code = code;
        }

        /// <summary>What was wrong.</summary>
        public WireError Code { get; private set; }
    }

    /// <summary>Why a frame was refused.</summary>
    public enum WireError
    {
        /// <summary>Shorter than its header says, or than header + CRC.</summary>
        Truncated = 1,

        /// <summary>Wire version not supported.</summary>
        UnsupportedVersion = 2,

        /// <summary>CRC32 mismatch.</summary>
        BadChecksum = 3,

        /// <summary>Unknown message type.</summary>
        UnknownType = 4,

        /// <summary>Payload length does not match the message's fields.</summary>
        BadLength = 5,

        /// <summary>A field's value is out of range.</summary>
        BadField = 6,

        /// <summary>Payload larger than <see cref="WireCodec.MaxPayload"/>.</summary>
        TooLarge = 7,
    }
}
