namespace TinyMlops.Firmware.Core.Wire
{
    /// <summary>A node's update status (type 6, 16-byte payload): what it holds and what it wants next.</summary>
    public sealed class OtaStatusMessage : WireMessage
    {
        /// <inheritdoc />
        public override int Type
        {
            get { return MessageType.OtaStatus; }
        }

        /// <summary>Release the status is about (0 = none).</summary>
        public uint ReleaseSequence;

        /// <summary><see cref="Updates.UpdateState"/>.</summary>
        public int State;

        /// <summary><see cref="Updates.UpdateError"/> (0 = none).</summary>
        public int Error;

        /// <summary>Next payload offset the node wants (resume point).</summary>
        public int NextOffset;

        /// <summary>Sequence of the confirmed, running model.</summary>
        public uint InstalledSequence;

        /// <inheritdoc />
        public override int PayloadSize()
        {
            return 16;
        }

        /// <inheritdoc />
        public override void Write(FrameWriter w)
        {
            w.U32(ReleaseSequence);
            w.U8(State);
            w.U8(Error);
            w.Zeros(2);
            w.I32(NextOffset);
            w.U32(InstalledSequence);
        }

        /// <inheritdoc />
        public override void Read(FrameReader r, int payload)
        {
            NeedExactly(payload, 16);
            ReleaseSequence = r.U32();
            State = r.U8();
            Error = r.U8();
            r.Skip(2);
            NextOffset = r.I32();
            InstalledSequence = r.U32();
            if (NextOffset < 0)
            {
                throw new WireFormatException(WireError.BadField, "status offset is negative");
            }
        }
    }
}
