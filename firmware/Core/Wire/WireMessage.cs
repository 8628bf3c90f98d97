namespace TinyMlops.Firmware.Core.Wire
{
    /// <summary>
    /// Fields every message carries, and what each message type does for itself: its payload size (checking its
    /// fields fit the format), writing its payload, and reading and checking it. <see cref="WireCodec"/> frames them
    /// (header, CRC). Instances are plain data; not thread-safe.
    /// </summary>
    public abstract class WireMessage
    {
        private FrameWriter? _writer;

        /// <summary>Message type (<see cref="MessageType"/>).</summary>
        public abstract int Type { get; }

        /// <summary>
        /// The sender's boot count: a node persists it and adds one at every start (<see cref="Node.BootCounter"/>), so
        /// with <see cref="Sequence"/> it names a message across reboots. 0 on messages from the gateway.
        /// </summary>
        public uint Boot;

        /// <summary>Per-sender sequence number, incremented for every message sent; starts again at every boot.</summary>
        public uint Sequence;

        /// <summary>Send time in Unix milliseconds (0 when the node's clock is not set yet).</summary>
        public long TimestampMs;

        /// <summary>Bytes of this message's payload.</summary>
        /// <exception cref="WireFormatException">A field does not fit the format.</exception>
        public abstract int PayloadSize();

        /// <summary>Writes the payload (exactly <see cref="PayloadSize"/> bytes).</summary>
        public abstract void Write(FrameWriter w);

        /// <summary>Reads and checks a payload of <paramref name="payload"/> bytes.</summary>
        /// <exception cref="WireFormatException">The payload is malformed.</exception>
        public abstract void Read(FrameReader r, int payload);

        /// <summary>This message's writer, made once, so a message encoded again and again allocates nothing.</summary>
        internal FrameWriter Writer()
        {
            if (_writer == null)
            {
                _writer = new FrameWriter();
            }

            return _writer;
        }

        /// <summary>Refuses a payload that is not exactly <paramref name="size"/> bytes.</summary>
        protected void NeedExactly(int payload, int size)
        {
            if (payload != size)
            {
                throw new WireFormatException(WireError.BadLength, "message type " + Type + " has a " + size + "-byte payload, got " + payload);
            }
        }

        /// <summary><paramref name="v"/> limited to [<paramref name="lo"/>, <paramref name="hi"/>].</summary>
        protected static int Clamp(int v, int lo, int hi)
        {
            return v < lo ? lo : (v > hi ? hi : v);
        }
    }
}
