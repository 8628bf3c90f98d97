using TinyMlops.Firmware.Core.Common;

namespace TinyMlops.Firmware.Core.Wire
{
    /// <summary>
    /// Reads a message's fields little-endian from one payload, checking every read against the payload's end, so a
    /// length field cannot make a decoder read outside the frame. Not thread-safe.
    /// </summary>
    public sealed class FrameReader
    {
        private readonly byte[] _b;
        private readonly int _end;
        private int _pos;

        /// <summary>A reader over <paramref name="data"/>[<paramref name="start"/>..<paramref name="end"/>).</summary>
        public FrameReader(byte[] data, int start, int end)
        {
            _b = data;
            _pos = start;
            _end = end;
        }

        /// <summary>Bytes not read yet.</summary>
        public int Remaining
        {
            get { return _end - _pos; }
        }

        /// <summary>One byte.</summary>
        public int U8()
        {
            Need(1);
            int v = _b[_pos];
            _pos++;
            return v;
        }

        /// <summary>Two bytes, unsigned.</summary>
        public int U16()
        {
            Need(2);
            int v = LittleEndian.ReadUInt16(_b, _pos);
            _pos += 2;
            return v;
        }

        /// <summary>Four bytes, unsigned.</summary>
        public uint U32()
        {
            Need(4);
            uint v = LittleEndian.ReadUInt32(_b, _pos);
            _pos += 4;
            return v;
        }

        /// <summary>Four bytes, signed.</summary>
        public int I32()
        {
            Need(4);
            int v = LittleEndian.ReadInt32(_b, _pos);
            _pos += 4;
            return v;
        }

        /// <summary>Eight bytes, signed.</summary>
        public long I64()
        {
            Need(8);
            long v = LittleEndian.ReadInt64(_b, _pos);
            _pos += 8;
            return v;
        }

        /// <summary>An IEEE single.</summary>
        public float F32()
        {
            Need(4);
            float v = LittleEndian.ReadSingle(_b, _pos);
            _pos += 4;
            return v;
        }

        /// <summary>Skips <paramref name="count"/> reserved bytes.</summary>
        public void Skip(int count)
        {
            Need(count);
            _pos += count;
        }

        /// <summary>The next <paramref name="count"/> bytes, copied.</summary>
        public byte[] Bytes(int count)
        {
            Need(count);
            byte[] v = new byte[count];
            System.Array.Copy(_b, _pos, v, 0, count);
            _pos += count;
            return v;
        }

        /// <summary>The next <paramref name="count"/> bytes as UTF-8 text.</summary>
        public string Utf8(int count)
        {
            Need(count);
            string s = new string(System.Text.Encoding.UTF8.GetChars(_b, _pos, count));
            _pos += count;
            return s;
        }

        /// <summary>The next <paramref name="count"/> int16 values.</summary>
        public short[] Int16s(int count)
        {
            Need(2 * count);
            short[] v = new short[count];
            for (int i = 0; i < count; i++)
            {
                v[i] = LittleEndian.ReadInt16(_b, _pos);
                _pos += 2;
            }

            return v;
        }

        private void Need(int count)
        {
            if (count < 0 || count > _end - _pos)
            {
                throw new WireFormatException(WireError.BadLength, "the payload ends before its fields do");
            }
        }
    }
}
