namespace TinyMlops.Firmware.Core.Wire
{
    /// <summary>A model-update offer (type 4): the signed manifest bytes (see <see cref="Updates.UpdateManifest"/>).</summary>
    public sealed class OtaOfferMessage : WireMessage
    {
        /// <inheritdoc />
        public override int Type
        {
            get { return MessageType.OtaOffer; }
        }

        /// <summary>Encoded, signed manifest.</summary>
        public byte[] Manifest = new byte[0];

        /// <inheritdoc />
        public override int PayloadSize()
        {
            return Manifest.Length;
        }

        /// <inheritdoc />
        public override void Write(FrameWriter w)
        {
            w.Bytes(Manifest, 0, Manifest.Length);
        }

        /// <inheritdoc />
        public override void Read(FrameReader r, int payload)
        {
            if (payload == 0)
            {
                throw new WireFormatException(WireError.BadLength, "offer carries no manifest");
            }

            Manifest = r.Bytes(payload);
        }
    }
}
