namespace TinyMlops.Firmware.Core.Wire
{
    /// <summary>One piece of a model payload (type 5): release sequence, offset, then the bytes.</summary>
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

        /// <inheritdoc />
        public override int PayloadSize()
        {
            if (Data.Length > WireCodec.MaxChunk || Offset < 0)
            {
                throw new WireFormatException(WireError.BadField, "chunk longer than " + WireCodec.MaxChunk + " bytes or negative offset");
            }

            return 8 + Data.Length;
        }

        /// <inheritdoc />
        public override void Write(FrameWriter w)
        {
            w.U32(ReleaseSequence);
            w.I32(Offset);
            w.Bytes(Data, 0, Data.Length);
        }

        /// <inheritdoc />
        public override void Read(FrameReader r, int payload)
        {
            if (payload < 8 || payload - 8 > WireCodec.MaxChunk)
            {
                throw new WireFormatException(WireError.BadLength, "chunk payload of " + payload + " bytes is out of range");
            }

            ReleaseSequence = r.U32();
            Offset = r.I32();
            if (Offset < 0)
            {
                throw new WireFormatException(WireError.BadField, "chunk offset is negative");
            }

            Data = r.Bytes(payload - 8);
        }
    }
}
