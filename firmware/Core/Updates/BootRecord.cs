using TinyMlops.Firmware.Core.Common;

namespace TinyMlops.Firmware.Core.Updates
{
    /// <summary>
    /// Which slot holds the confirmed model and whether a trial is pending. Stored twice (two files, written in
    /// turn with a rising generation and a CRC), so a torn write always leaves the previous record intact.
    /// Layout in docs/ota.md, "Boot record".
    /// </summary>
    internal sealed class BootRecord
    {
        public const uint Magic = 0x52424D54; // "TMBR"
        public const int Size = 44;
        public const int NoSlot = 255;

        public uint Generation;
        public int ActiveSlot = NoSlot;
        public int LastState = UpdateState.Idle;
        public int LastError = UpdateError.None;
        public uint ActiveSequence;
        public uint ActiveModelId;
        public uint ActiveModelVersion;
        public int TrialSlot = NoSlot;
        public uint TrialSequence;
        public uint HighestSequence;

        public byte[] Encode()
        {
            byte[] b = new byte[Size];
            LittleEndian.WriteUInt32(b, 0, Magic);
            b[4] = 1;
            LittleEndian.WriteUInt32(b, 8, Generation);
            b[12] = (byte)ActiveSlot;
            b[13] = (byte)LastState;
            b[14] = (byte)LastError;
            LittleEndian.WriteUInt32(b, 16, ActiveSequence);
            LittleEndian.WriteUInt32(b, 20, ActiveModelId);
            LittleEndian.WriteUInt32(b, 24, ActiveModelVersion);
            b[28] = (byte)TrialSlot;
            LittleEndian.WriteUInt32(b, 32, TrialSequence);
            LittleEndian.WriteUInt32(b, 36, HighestSequence);
            LittleEndian.WriteUInt32(b, 40, Crc32.Compute(b, 0, 40));
            return b;
        }

        /// <summary>Decodes a record, or returns null when it is missing, torn or corrupt.</summary>
        public static BootRecord? Decode(byte[]? b, int length)
        {
            if (b == null || length != Size || LittleEndian.ReadUInt32(b, 0) != Magic || b[4] != 1 || Crc32.Compute(b, 0, 40) != LittleEndian.ReadUInt32(b, 40))
            {
                return null;
            }

            BootRecord r = new BootRecord();
            r.Generation = LittleEndian.ReadUInt32(b, 8);
            r.ActiveSlot = b[12];
            r.LastState = b[13];
            r.LastError = b[14];
            r.ActiveSequence = LittleEndian.ReadUInt32(b, 16);
            r.ActiveModelId = LittleEndian.ReadUInt32(b, 20);
            r.ActiveModelVersion = LittleEndian.ReadUInt32(b, 24);
            r.TrialSlot = b[28];
            r.TrialSequence = LittleEndian.ReadUInt32(b, 32);
            r.HighestSequence = LittleEndian.ReadUInt32(b, 36);
            if ((r.ActiveSlot > 1 && r.ActiveSlot != NoSlot) || (r.TrialSlot > 1 && r.TrialSlot != NoSlot))
            {
                return null;
            }

            return r;
        }
    }
}
