using TinyMlops.Firmware.Core.Common;
using TinyMlops.Firmware.Core.Updates;

namespace TinyMlops.Firmware.Core.Node
{
    /// <summary>
    /// The node's boot count, kept in two files (<c>boot.a</c>, <c>boot.b</c>: count u32 and its CRC32) written in
    /// turn, so a power loss while one is written (which may tear that one file, <see cref="IModelStorage"/>) leaves the
    /// other with the previous count. <see cref="Advance"/> is called once at start, before anything is sent: every
    /// boot gets a count no earlier boot had, and messages are named by (node, boot, sequence) whatever the clock says.
    /// Not thread-safe.
    /// </summary>
    public static class BootCounter
    {
        /// <summary>First file.</summary>
        public const string FileA = "boot.a";

        /// <summary>Second file.</summary>
        public const string FileB = "boot.b";

        /// <summary>Reads the stored count (0 when neither file is valid), stores count + 1 and returns it.</summary>
        public static uint Advance(IModelStorage storage)
        {
            byte[] buffer = new byte[8];
            uint a = Read(storage, FileA, buffer);
            uint b = Read(storage, FileB, buffer);
            uint next = (a > b ? a : b) + 1;
            if (next == 0)
            {
                next = 1; // after 4 billion boots; 0 stays "no count"
            }

            LittleEndian.WriteUInt32(buffer, 0, next);
            LittleEndian.WriteUInt32(buffer, 4, Crc32.Compute(buffer, 0, 4));

            // Overwrite the older (or damaged) copy; the newer one stays intact whatever happens to this write.
            storage.Write(a <= b ? FileA : FileB, buffer, 0, 8);
            return next;
        }

        /// <summary>The count of the last boot without advancing it (0 when none is stored).</summary>
        public static uint Current(IModelStorage storage)
        {
            byte[] buffer = new byte[8];
            uint a = Read(storage, FileA, buffer);
            uint b = Read(storage, FileB, buffer);
            return a > b ? a : b;
        }

        private static uint Read(IModelStorage storage, string name, byte[] buffer)
        {
            if (storage.Length(name) != 8 || storage.Read(name, 0, buffer, 0, 8) != 8)
            {
                return 0;
            }

            return Crc32.Compute(buffer, 0, 4) == LittleEndian.ReadUInt32(buffer, 4) ? LittleEndian.ReadUInt32(buffer, 0) : 0;
        }
    }
}
