namespace TinyMlops.Firmware.Core.Wire
{
    /// <summary>The gateway's verdict on one event (type 3): a 16-byte fixed part and the UTF-8 label.</summary>
    public sealed class VerdictMessage : WireMessage
    {
        /// <inheritdoc />
        public override int Type
        {
            get { return MessageType.Verdict; }
        }

        /// <summary>Sequence number of the event this answers.</summary>
        public uint EventSequence;

        /// <summary>Version of the verifier model that decided.</summary>
        public uint VerifierVersion;

        /// <summary>Predicted class index.</summary>
        public int ClassId;

        /// <summary>True when the class is a fault (raise the alarm).</summary>
        public bool IsFault;

        /// <summary>Probability of <see cref="ClassId"/>.</summary>
        public float Probability;

        /// <summary>Class name (UTF-8, at most <see cref="WireCodec.MaxLabelBytes"/> bytes).</summary>
        public string Label = "";

        /// <inheritdoc />
        public override int PayloadSize()
        {
            int label = System.Text.Encoding.UTF8.GetBytes(Label).Length;
            if (label > WireCodec.MaxLabelBytes || ClassId < 0 || ClassId > 255)
            {
                throw new WireFormatException(WireError.BadField, "verdict label longer than " + WireCodec.MaxLabelBytes + " bytes or class id out of range");
            }

            return 16 + label;
        }

        /// <inheritdoc />
        public override void Write(FrameWriter w)
        {
            byte[] label = System.Text.Encoding.UTF8.GetBytes(Label);
            w.U32(EventSequence);
            w.U32(VerifierVersion);
            w.U8(ClassId);
            w.U8(IsFault ? 1 : 0);
            w.U8(label.Length);
            w.Zeros(1);
            w.F32(Probability);
            w.Bytes(label, 0, label.Length);
        }

        /// <inheritdoc />
        public override void Read(FrameReader r, int payload)
        {
            if (payload < 16)
            {
                throw new WireFormatException(WireError.BadLength, "verdict payload shorter than its 16-byte fixed part");
            }

            EventSequence = r.U32();
            VerifierVersion = r.U32();
            ClassId = r.U8();
            int fault = r.U8();
            int labelLength = r.U8();
            r.Skip(1);
            Probability = r.F32();
            if (fault > 1)
            {
                throw new WireFormatException(WireError.BadField, "verdict fault flag must be 0 or 1");
            }

            if (!(Probability >= 0f && Probability <= 1f))
            {
                throw new WireFormatException(WireError.BadField, "verdict probability must lie in [0, 1]");
            }

            if (labelLength > WireCodec.MaxLabelBytes || 16 + labelLength != payload)
            {
                throw new WireFormatException(WireError.BadLength, "verdict label length " + labelLength + " does not fit its payload");
            }

            IsFault = fault == 1;
            Label = r.Utf8(labelLength);
        }
    }
}
