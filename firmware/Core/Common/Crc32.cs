namespace TinyMlops.Firmware.Core.Common
{
    /// <summary>
    /// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, init and final XOR 0xFFFFFFFF): the same checksum as
    /// zlib, PNG and System.IO.Hashing.Crc32. Table-driven; the table is built once.
    /// </summary>
    public static class Crc32
    {
        private static uint[]? s_table;

        private static uint[] Table
        {
            get
            {
                if (s_table == null)
                {
                    uint[] t = new uint[256];
                    for (uint n = 0; n < 256; n++)
                    {
                        uint c = n;
                        for (int k = 0; k < 8; k++)
                        {
                            c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                        }

                        t[n] = c;
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
            for (int i = offset; i < end; i++)
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
