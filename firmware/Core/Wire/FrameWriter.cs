using TinyMlops.Firmware.Core.Common;

namespace TinyMlops.Firmware.Core.Wire
{
    /// <summary>
    /// Writes a message's fields little-endian into a window of a frame buffer, checking every write against the
    /// window's end, so a message cannot write past its payload. Reusable (<see cref="Reset"/>): a message keeps one,
    /// so encoding a reused message allocates nothing. Not thread-safe.
    /// </summary>
    public sealed class FrameWriter
    {
        private byte[] _b = new byte[0];
        private int _pos;
        private int _end;

        /// <summary>Writes from now on go to <paramref name="buffer"/>[<paramref name="start"/>..<paramref name="end"/>).</summary>
        public void Reset(byte[] buffer, int start, int end)
        {
            _b = buffer;
            _pos = start;
            _end = end;
        }

        /// <summary>Next position in the buffer.</summary>
        public int Position
        {
            get { return _pos; }
        }

        /// <summary>One byte (the low 8 bits).</summary>
        public void U8(int v)
        {
            Need(1);
            _b[_pos] = (byte)v;
            _pos++;
        }

        /// <summary>Two bytes.</summary>
        public void U16(int v)
        {
            Need(2);
            LittleEndian.WriteUInt16(_b, _pos, v);
            _pos += 2;
        }

        /// <summary>Four bytes, unsigned.</summary>
        public void U32(uint v)
        {
            Need(4);
            LittleEndian.WriteUInt32(_b, _pos, v);
            _pos += 4;
        }

        /// <summary>Four bytes, signed.</summary>
        public void I32(int v)
        {
            Need(4);
            LittleEndian.WriteInt32(_b, _pos, v);
            _pos += 4;
        }

        /// <summary>Eight bytes, signed.</summary>
        public void I64(long v)
        {
            Need(8);
            LittleEndian.WriteInt64(_b, _pos, v);
            _pos += 8;
        }

        /// <summary>An IEEE single.</summary>
        public void F32(float v)
        {
            Need(4);
            LittleEndian.WriteSingle(_b, _pos, v);
            _pos += 4;
        }

        /// <summary><paramref name="count"/> zero bytes (reserved fields).</summary>
        public void Zeros(int count)
        {
            Need(count);
            for (int i = 0; i < count; i++)
            {
                _b[_pos + i] = 0;
            }

            _pos += count;
        }

        /// <summary><paramref name="count"/> bytes of <paramref name="source"/> from <paramref name="offset"/>.</summary>
        public void Bytes(byte[] source, int offset, int count)
        {
            Need(count);
            System.Array.Copy(source, offset, _b, _pos, count);
            _pos += count;
        }

        /// <summary>Every value of <paramref name="values"/> as IEEE singles (one bounds check).</summary>
        public void Singles(float[] values)
        {
            int n = values.Length;
            Need(4 * n);
            byte[] b = _b;
            int o = _pos;
            for (int i = 0; i < n; i++)
            {
                LittleEndian.WriteSingle(b, o, values[i]);
                o += 4;
            }

            _pos = o;
        }

        /// <summary>Every value of <paramref name="values"/> as int16 (one bounds check, the loop inline: events carry thousands).</summary>
        public void Int16s(short[] values)
        {
            int n = values.Length;
            Need(2 * n);
            byte[] b = _b;
            int o = _pos;
            for (int i = 0; i < n; i++)
            {
                int v = values[i];
                b[o] = (byte)v;
                b[o + 1] = (byte)(v >> 8);
                o += 2;
            }

            _pos = o;
        }

        private void Need(int count)
        {
            if (count > _end - _pos)
            {
                throw new WireFormatException(WireError.TooLarge, "a field runs past the end of its payload");
            }
        }
    }
}
