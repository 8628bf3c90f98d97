namespace TinyMlops.Firmware.Core.Common
{
    /// <summary>
    /// Little-endian reads and writes on byte arrays. Callers check bounds first (the readers here do not, so they
    /// stay cheap inside loaders that have already validated every offset).
    /// </summary>
    public static class LittleEndian
    {
        /// <summary>Reads an unsigned 16-bit value.</summary>
        public static int ReadUInt16(byte[] b, int o)
        {
            return b[o] | (b[o + 1] << 8);
        }

        /// <summary>Reads a signed 16-bit value.</summary>
        public static short ReadInt16(byte[] b, int o)
        {
            return (short)(b[o] | (b[o + 1] << 8));
        }

        /// <summary>Reads a signed 32-bit value.</summary>
        public static int ReadInt32(byte[] b, int o)
        {
            return b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24);
        }

        /// <summary>Reads an unsigned 32-bit value.</summary>
        public static uint ReadUInt32(byte[] b, int o)
        {
            return (uint)ReadInt32(b, o);
        }

        /// <summary>Reads a signed 64-bit value.</summary>
        public static long ReadInt64(byte[] b, int o)
        {
            return (long)ReadUInt32(b, o) | ((long)ReadInt32(b, o + 4) << 32);
        }

        /// <summary>Reads an IEEE-754 single (both the ESP32 and the hosts we run on are little-endian).</summary>
        public static float ReadSingle(byte[] b, int o)
        {
            return System.BitConverter.ToSingle(b, o);
        }

        /// <summary>Writes a 16-bit value.</summary>
        public static void WriteUInt16(byte[] b, int o, int v)
        {
            b[o] = (byte)v;
            b[o + 1] = (byte)(v >> 8);
        }

        /// <summary>Writes a 32-bit value.</summary>
        public static void WriteInt32(byte[] b, int o, int v)
        {
            b[o] = (byte)v;
            b[o + 1] = (byte)(v >> 8);
            b[o + 2] = (byte)(v >> 16);
            b[o + 3] = (byte)(v >> 24);
        }

        /// <summary>Writes an unsigned 32-bit value.</summary>
        public static void WriteUInt32(byte[] b, int o, uint v)
        {
            WriteInt32(b, o, (int)v);
        }

        /// <summary>Writes a 64-bit value.</summary>
        public static void WriteInt64(byte[] b, int o, long v)
        {
            WriteInt32(b, o, (int)v);
            WriteInt32(b, o + 4, (int)(v >> 32));
        }

        /// <summary>Writes an IEEE-754 single, allocating nothing (BitConverter.GetBytes would allocate per value).</summary>
        public static void WriteSingle(byte[] b, int o, float v)
        {
            WriteInt32(b, o, (int)SingleBits(v));
        }

        /// <summary>
        /// The IEEE-754 bits of <paramref name="v"/>, worked out with exact float arithmetic (scaling by powers of two
        /// never rounds) because nanoFramework has no allocation-free bit cast. Equal to .NET's
        /// <c>BitConverter.SingleToUInt32Bits</c> for every value but NaN, which is written as the canonical quiet NaN.
        /// </summary>
        public static uint SingleBits(float v)
        {
            if (float.IsNaN(v))
            {
                return 0x7FC00000;
            }

            uint sign = 0;
            if (v < 0f || (v == 0f && 1f / v < 0f))
            {
                sign = 0x80000000;
                v = -v;
            }

            if (v == 0f)
            {
                return sign;
            }

            if (v > float.MaxValue)
            {
                return sign | 0x7F800000;
            }

            int exponent = 0;
            float m = v;
            while (m >= 65536f)
            {
                m *= 1.52587890625E-05f; // 2^-16
                exponent += 16;
            }

            while (m >= 2f)
            {
                m *= 0.5f;
                exponent++;
            }

            while (m < 1.52587890625E-05f && exponent - 16 >= -126)
            {
                m *= 65536f;
                exponent -= 16;
            }

            while (m < 1f && exponent > -126)
            {
                m *= 2f;
                exponent--;
            }

            if (m < 1f)
            {
                return sign | (uint)(m * 8388608f); // subnormal: v = m * 2^-126, mantissa = m * 2^23
            }

            return sign | ((uint)(exponent + 127) << 23) | (uint)((m - 1f) * 8388608f);
        }
    }
}
