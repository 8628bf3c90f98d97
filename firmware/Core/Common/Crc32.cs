namespace TinyMlops.Firmware.Core.Common
{
    /// <summary>
    /// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, init and final XOR 0xFFFFFFFF): the same checksum as
    /// zlib, PNG and System.IO.Hashing.Crc32. Table-driven; the table is built once.
    /// </summary>
    public static class Crc32
    {
        private static uint[]? s_table;

        // Slicing by 4 (Intel's method): four 256-entry tables, T[j][n] = CRC of byte n followed by j zero bytes, so
        // four bytes cost four lookups and one loop iteration; on an interpreter about half the byte-wise cost.
        private static uint[] Table
        {
            get
            {
                if (s_table == null)
                {
                    uint[] t = new uint[4 * 256];
                    for (uint n = 0; n < 256; n++)
                    {
                        uint c = n;
                        for (int k = 0; k < 8; k++)
                        {
                            c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                        }

                        t[n] = c;
                    }

                    for (int n = 0; n < 256; n++)
                    {
                        for (int j = 1; j < 4; j++)
                        {
                            uint prev = t[((j - 1) * 256) + n];
                            t[(j * 256) + n] = t[prev & 0xFF] ^ (prev >> 8);
                        }
                    }

                    s_table = t;
                }

                return s_table;
            }
        }

        /// <summary>CRC-32 of <paramref name="count"/> bytes starting at <paramref name="offset"/>.</summary>
        public static uint Compute(byte[] data, int offset, int count)
        {
            return Finish(Update(Start(), data, offset, count));
        }

        /// <summary>Initial running value for an incremental CRC.</summary>
        public static uint Start()
        {
            return 0xFFFFFFFFu;
        }

        /// <summary>Feeds bytes into a running value from <see cref="Start"/>.</summary>
        public static uint Update(uint running, byte[] data, int offset, int count)
        {
            if (data == null || offset < 0 || count < 0 || offset > data.Length - count)
            {
                throw new System.ArgumentOutOfRangeException("count");
            }

            uint[] t = Table;
            uint c = running;
            int end = offset + count;
            int i = offset;
            int words = end - 3;
            for (; i < words; i += 4)
            {
                c ^= (uint)(data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24));
                c = t[768 + (int)(c & 0xFF)] ^ t[512 + (int)((c >> 8) & 0xFF)] ^ t[256 + (int)((c >> 16) & 0xFF)] ^ t[(int)(c >> 24)];
            }

            for (; i < end; i++)
            {
                c = t[(c ^ data[i]) & 0xFF] ^ (c >> 8);
            }

            return c;
        }

        /// <summary>Final value of an incremental CRC.</summary>
        public static uint Finish(uint running)
        {
            return running ^ 0xFFFFFFFFu;
        }
    }
}
