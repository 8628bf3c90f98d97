using System;
using System.Linq;
using TinyMlops.Firmware.Core.Common;
using TinyMlops.Firmware.Core.Wire;
using Xunit;

namespace TinyMlops.Firmware.Tests;

public class WireCodecTests
{
    private static T RoundTrip<T>(T m) where T : WireMessage => Assert.IsType<T>(WireCodec.Decode(WireCodec.Encode(m), 0, WireCodec.Encode(m).Length));

    [Fact]
    public void Ota_status_has_the_documented_bytes()
    {
        var m = new OtaStatusMessage { Boot = 0x0A0B0C0D, Sequence = 0x01020304, TimestampMs = 0x0000019344556677, ReleaseSequence = 7, State = 1, Error = 0, NextOffset = 0x1234, InstalledSequence = 6 };
        byte[] expected =
        {
            0x02, 0x06, 0x10, 0x00,                         // version 2, type 6 (OTA status), payload 16 bytes
            0x0D, 0x0C, 0x0B, 0x0A,                         // boot count
            0x04, 0x03, 0x02, 0x01,                         // sequence
            0x77, 0x66, 0x55, 0x44, 0x93, 0x01, 0x00, 0x00, // timestamp ms (2024-11)
            0x07, 0x00, 0x00, 0x00,                         // release sequence
            0x01, 0x00, 0x00, 0x00,                         // state downloading, no error, reserved
            0x34, 0x12, 0x00, 0x00,                         // next offset
            0x06, 0x00, 0x00, 0x00,                         // installed sequence
            0x00, 0x00, 0x00, 0x00,                         // CRC32 (filled below)
        };
        LittleEndian.WriteUInt32(expected, 36, Crc32.Compute(expected, 0, 36));
        Assert.Equal(expected, WireCodec.Encode(m));
    }

    [Fact]
    public void Verdict_has_the_documented_bytes()
    {
        var m = new VerdictMessage { Sequence = 9, TimestampMs = 0, EventSequence = 5, VerifierVersion = 3, ClassId = 2, IsFault = true, Probability = 0.75f, Label = "imbalance" };
        byte[] expected = new byte[20 + 16 + 9 + 4];
        expected[0] = 2; expected[1] = 3; expected[2] = 25; expected[8] = 9; // boot 0 (the gateway), sequence 9
        expected[20] = 5; expected[24] = 3; expected[28] = 2; expected[29] = 1; expected[30] = 9;
        expected[32] = 0x00; expected[33] = 0x00; expected[34] = 0x40; expected[35] = 0x3F; // 0.75f
        "imbalance"u8.CopyTo(expected.AsSpan(36));
        LittleEndian.WriteUInt32(expected, 45, Crc32.Compute(expected, 0, 45));
        Assert.Equal(expected, WireCodec.Encode(m));
    }

    [Fact]
    public void Every_message_type_round_trips()
    {
        var t = RoundTrip(new TelemetryMessage { Sequence = 1, TimestampMs = 1700000000000, UptimeSeconds = 3600, FreeMemoryBytes = 81234, ModelId = 7, ModelVersion = 3, ModelSlot = 1, UpdateState = 3, RssiDbm = -67, InferenceMicros = 4321, Windows = 1000, Events = 12, Dropped = 2, LastError = 11 });
        Assert.Equal((3600u, 81234u, -67, 4321u, 11), (t.UptimeSeconds, t.FreeMemoryBytes, t.RssiDbm, t.InferenceMicros, t.LastError));

        var samples = new short[3 * 64];
        for (int i = 0; i < samples.Length; i++)
        {
            samples[i] = (short)((i * 977) - 30000);
        }

        var e = RoundTrip(new EventMessage { Sequence = 2, ModelId = 7, ModelVersion = 3, Score = 901, Threshold = 800, RealScore = 12.5f, SampleRateHz = 1000, WindowLength = 64, SampleScale = 0.00025f, Features = new[] { 1f, -2f, 3.5f }, Samples = samples });
        Assert.Equal(samples, e.Samples);
        Assert.Equal(new[] { 1f, -2f, 3.5f }, e.Features);
        Assert.Equal((901, 800, 1000, 64), (e.Score, e.Threshold, e.SampleRateHz, e.WindowLength));

        var v = RoundTrip(new VerdictMessage { EventSequence = 2, ClassId = 0, IsFault = false, Probability = 0.99f, Label = "healthy" });
        Assert.Equal("healthy", v.Label);

        var offer = RoundTrip(new OtaOfferMessage { Manifest = new byte[] { 1, 2, 3 } });
        Assert.Equal(new byte[] { 1, 2, 3 }, offer.Manifest);

        var chunk = RoundTrip(new OtaChunkMessage { ReleaseSequence = 4, Offset = 512, Data = new byte[] { 9, 8, 7 } });
        Assert.Equal((4u, 512, 3), (chunk.ReleaseSequence, chunk.Offset, chunk.Data.Length));
    }

    [Fact]
    public void Hostile_frames_are_refused_with_a_reason()
    {
        byte[] good = WireCodec.Encode(new OtaChunkMessage { ReleaseSequence = 1, Offset = 0, Data = new byte[16] });
        Assert.Equal(WireError.Truncated, Assert.Throws<WireFormatException>(() => WireCodec.Decode(good, 0, 10)).Code);
        Assert.Equal(WireError.Truncated, Assert.Throws<WireFormatException>(() => WireCodec.Decode(good, 0, good.Length - 1)).Code);
        Assert.Equal(WireError.Truncated, Assert.Throws<WireFormatException>(() => WireCodec.Decode(good, 5, good.Length)).Code);

        byte[] b = (byte[])good.Clone();
        b[20] ^= 1;
        Assert.Equal(WireError.BadChecksum, Assert.Throws<WireFormatException>(() => WireCodec.Decode(b, 0, b.Length)).Code);

        b = (byte[])good.Clone();
        b[0] = 1; // version 1 (no boot count) is not accepted
        Assert.Equal(WireError.UnsupportedVersion, Assert.Throws<WireFormatException>(() => WireCodec.Decode(b, 0, b.Length)).Code);

        b = Reseal((byte[])good.Clone(), bytes => bytes[1] = 42);
        Assert.Equal(WireError.UnknownType, Assert.Throws<WireFormatException>(() => WireCodec.Decode(b, 0, b.Length)).Code);

        // An event whose declared window does not fill its payload.
        byte[] ev = WireCodec.Encode(new EventMessage { SampleRateHz = 100, WindowLength = 4, SampleScale = 1f, Samples = new short[12] });
        b = Reseal(ev, bytes => bytes[WireCodec.HeaderSize + 22] = 5);
        Assert.Equal(WireError.BadLength, Assert.Throws<WireFormatException>(() => WireCodec.Decode(b, 0, b.Length)).Code);

        // A NaN feature.
        ev = WireCodec.Encode(new EventMessage { SampleRateHz = 100, WindowLength = 4, SampleScale = 1f, Features = new[] { 1f }, Samples = new short[12] });
        b = Reseal(ev, bytes => LittleEndian.WriteSingle(bytes, WireCodec.HeaderSize + 32, float.NaN));
        Assert.Equal(WireError.BadField, Assert.Throws<WireFormatException>(() => WireCodec.Decode(b, 0, b.Length)).Code);

        // Every float field must be finite, and the sample scale bounded, so nothing decoded can overflow later
        // (samples × scale to g; ±Infinity in JSON), which once put the gateway into a crash loop.
        foreach (float score in new[] { float.PositiveInfinity, float.NegativeInfinity, float.NaN })
        {
            b = Reseal(WireCodec.Encode(new EventMessage { SampleRateHz = 100, WindowLength = 4, SampleScale = 1f, Samples = new short[12] }),
                bytes => LittleEndian.WriteSingle(bytes, WireCodec.HeaderSize + 16, score));
            Assert.Equal(WireError.BadField, Assert.Throws<WireFormatException>(() => WireCodec.Decode(b, 0, b.Length)).Code);
        }

        foreach (float scale in new[] { float.MaxValue, 3.4e37f, 1.0001f, float.PositiveInfinity, 0f, -1f })
        {
            b = Reseal(WireCodec.Encode(new EventMessage { SampleRateHz = 100, WindowLength = 4, SampleScale = 1f, Samples = new short[12] }),
                bytes => LittleEndian.WriteSingle(bytes, WireCodec.HeaderSize + 28, scale));
            Assert.Equal(WireError.BadField, Assert.Throws<WireFormatException>(() => WireCodec.Decode(b, 0, b.Length)).Code);
        }

        // Timestamps at int64's extremes.
        foreach (long ts in new[] { long.MinValue, -1L, long.MaxValue, WireCodec.MaxTimestampMs + 1 })
        {
            b = Reseal((byte[])good.Clone(), bytes => LittleEndian.WriteInt64(bytes, 12, ts));
            Assert.Equal(WireError.BadField, Assert.Throws<WireFormatException>(() => WireCodec.Decode(b, 0, b.Length)).Code);
            Assert.Throws<WireFormatException>(() => WireCodec.Encode(new TelemetryMessage { TimestampMs = ts }));
        }

        // A payload over the format's 32,768 bytes, however well it is framed.
        byte[] huge = new byte[WireCodec.HeaderSize + 65_516 + 4];
        huge[0] = WireCodec.Version;
        huge[1] = MessageType.OtaOffer;
        LittleEndian.WriteUInt16(huge, 2, 65_516);
        Reseal(huge, _ => { });
        Assert.Equal(WireError.TooLarge, Assert.Throws<WireFormatException>(() => WireCodec.Decode(huge, 0, huge.Length)).Code);

        Assert.Throws<WireFormatException>(() => WireCodec.Encode(new VerdictMessage { Label = new string('x', 49) }));
    }

    [Fact]
    public void Boot_count_and_sequence_survive_the_round_trip_and_a_wild_sensor_still_encodes()
    {
        var e = RoundTrip(new EventMessage { Boot = 77, Sequence = 3, TimestampMs = 0, SampleRateHz = 100, WindowLength = 4, SampleScale = 1f, Samples = new short[12] });
        Assert.Equal((77u, 3u, 0L), (e.Boot, e.Sequence, e.TimestampMs));

        // 1e6 g is no accelerometer's reading: the scale saturates at the format's limit instead of making the frame unsendable.
        float[] wild = { 1e6f, -1e6f, 0.5f, 0f };
        var counts = new short[12];
        float scale = WireCodec.QuantizeSamples(wild, wild, wild, counts);
        Assert.Equal(WireCodec.MaxSampleScale, scale);
        Assert.Equal(32767, counts[0]);
        RoundTrip(new EventMessage { SampleRateHz = 100, WindowLength = 4, SampleScale = scale, Samples = counts });
    }

    [Fact]
    public void Random_mutations_never_escape_as_anything_but_WireFormatException()
    {
        var rng = new Random(11);
        byte[][] seeds =
        {
            WireCodec.Encode(new TelemetryMessage { UptimeSeconds = 5 }),
            WireCodec.Encode(new EventMessage { SampleRateHz = 100, WindowLength = 8, SampleScale = 1f, Features = new[] { 1f, 2f }, Samples = new short[24] }),
            WireCodec.Encode(new VerdictMessage { Label = "bearing outer", Probability = 0.5f }),
            WireCodec.Encode(new OtaStatusMessage { NextOffset = 3 }),
        };
        int accepted = 0;
        for (int i = 0; i < 50_000; i++)
        {
            byte[] b = (byte[])seeds[i % seeds.Length].Clone();
            b[rng.Next(b.Length)] = (byte)rng.Next(256);
            if (i % 2 == 0)
            {
                Reseal(b, _ => { });
            }

            try
            {
                WireCodec.Decode(b, 0, b.Length);
                accepted++;
            }
            catch (WireFormatException)
            {
            }
        }

        Assert.InRange(accepted, 1, 49_999);
    }

    /// <summary>A message's own encoder cannot write outside its payload, nor leave part of it unwritten.</summary>
    [Fact]
    public void A_message_that_misstates_its_payload_cannot_write_outside_it()
    {
        var buffer = Enumerable.Repeat((byte)0xAA, 64).ToArray();
        var e = Assert.Throws<WireFormatException>(() => WireCodec.EncodeInto(new Misstated(declared: 4, written: 8), buffer, 0));
        Assert.Equal(WireError.TooLarge, e.Code);
        Assert.All(buffer.Skip(WireCodec.HeaderSize + 4), b => Assert.Equal(0xAA, b)); // nothing past the declared payload
        Assert.Equal(WireError.BadLength, Assert.Throws<WireFormatException>(() => WireCodec.EncodeInto(new Misstated(declared: 8, written: 4), buffer, 0)).Code);
        Assert.Equal(WireError.BadLength, Assert.Throws<WireFormatException>(() => new FrameReader(new byte[6], 0, 6).I64()).Code);
        var reader = new FrameReader(new byte[6], 2, 6);
        Assert.Equal(0u, reader.U32());
        Assert.Equal(WireError.BadLength, Assert.Throws<WireFormatException>(() => reader.U8()).Code);
    }

    /// <summary>The registry knows every type the format has, and nothing else.</summary>
    [Fact]
    public void Every_message_type_has_exactly_one_class()
    {
        for (int type = 0; type < 256; type++)
        {
            WireMessage? m = MessageType.Create(type);
            Assert.True((m != null) == (type is >= 1 and <= 6), $"type {type}");
            Assert.True(m == null || m.Type == type);
        }
    }

    private sealed class Misstated(int declared, int written) : WireMessage
    {
        public override int Type => MessageType.Telemetry;

        public override int PayloadSize() => declared;

        public override void Write(FrameWriter w) => w.Zeros(written);

        public override void Read(FrameReader r, int payload) => r.Skip(payload);
    }

    private static byte[] Reseal(byte[] frame, Action<byte[]> edit)
    {
        edit(frame);
        LittleEndian.WriteUInt32(frame, frame.Length - 4, Crc32.Compute(frame, 0, frame.Length - 4));
        return frame;
    }
}
