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
            return HeaderSize + message.PayloadSize() + TrailerSize;
        }

        /// <summary>
        /// Encodes <paramref name="message"/> into <paramref name="buffer"/> at <paramref name="at"/> and returns the
        /// frame's length. Allocates nothing for telemetry, event and OTA status messages encoded a second time, so a
        /// node encodes into one buffer it allocated at start.
        /// </summary>
        /// <exception cref="WireFormatException">A field does not fit the format, or the buffer is too small.</exception>
        public static int EncodeInto(WireMessage message, byte[] buffer, int at)
        {
            int payload = message.PayloadSize();
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

            int end = at + HeaderSize + payload;
            FrameWriter w = message.Writer();
            w.Reset(buffer, at, end);
            w.U8(Version);
            w.U8(message.Type);
            w.U16(payload);
            w.U32(message.Boot);
            w.U32(message.Sequence);
            w.I64(message.TimestampMs);
            message.Write(w);
            if (w.Position != end)
            {
                throw new WireFormatException(WireError.BadLength, "message type " + message.Type + " wrote " + (w.Position - at - HeaderSize) + " of its " + payload + " payload bytes");
            }

            LittleEndian.WriteUInt32(buffer, end, Crc32.Compute(buffer, at, HeaderSize + payload));
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

            WireMessage? m = MessageType.Create(type);
            if (m == null)
            {
                throw new WireFormatException(WireError.UnknownType, "unknown message type " + type);
            }

            FrameReader r = new FrameReader(data, offset + HeaderSize, end);
            m.Read(r, payload);
            if (r.Remaining != 0)
            {
                throw new WireFormatException(WireError.BadLength, "message type " + type + " left " + r.Remaining + " payload bytes unread");
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
