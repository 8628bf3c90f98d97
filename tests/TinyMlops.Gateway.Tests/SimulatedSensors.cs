using System;
using System.Buffers.Binary;
using System.Device.I2c;
using System.Device.Spi;
using System.IO;
using TinyMlops.Gateway.LocalNode;

namespace TinyMlops.Gateway.Tests;

/// <summary>Where a simulated sensor's samples come from (in g); called once per data read.</summary>
public delegate (float X, float Y, float Z) SampleSource();

/// <summary>
/// An ADXL345 at register level behind <see cref="SpiDevice"/>, as dotnet/iot's binding drives it: register writes
/// (address, value), and multi-byte reads with the read and multi-byte bits set, answered during the full-duplex
/// transfer. DATA_FORMAT's range bits set the scale (10-bit mode: 256 counts/g at ±2 g … 32 at ±16 g); each read
/// from DATAX0 latches the next sample, little-endian.
/// </summary>
public sealed class SimulatedAdxl345(SpiConnectionSettings settings, SampleSource source) : SpiDevice
{
    private const byte DataFormat = 0x31;
    private const byte DataX0 = 0x32;
    private readonly byte[] _registers = new byte[64];

    /// <summary>Reads that throw from now on (a wire pulled off).</summary>
    public bool Broken { get; set; }

    /// <summary>Samples latched so far.</summary>
    public int Samples { get; private set; }

    /// <inheritdoc />
    public override SpiConnectionSettings ConnectionSettings => settings;

    /// <summary>Counts per g at the configured range.</summary>
    public int CountsPerG => 256 >> (_registers[DataFormat] & 0x03);

    /// <inheritdoc />
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        int reg = buffer[0] & 0x3F;
        for (int i = 1; i < buffer.Length; i++)
        {
            _registers[(reg + i - 1) & 0x3F] = buffer[i];
        }
    }

    /// <inheritdoc />
    public override void WriteByte(byte value) => Write(new[] { value });

    /// <inheritdoc />
    public override void TransferFullDuplex(ReadOnlySpan<byte> writeBuffer, Span<byte> readBuffer)
    {
        if (Broken)
        {
            throw new IOException("SPI transfer failed");
        }

        if ((writeBuffer[0] & 0x80) == 0)
        {
            Write(writeBuffer);
            return;
        }

        int reg = writeBuffer[0] & 0x3F;
        if (reg == DataX0)
        {
            (float x, float y, float z) = source();
            BinaryPrimitives.WriteInt16LittleEndian(_registers.AsSpan(DataX0), Counts(x));
            BinaryPrimitives.WriteInt16LittleEndian(_registers.AsSpan(DataX0 + 2), Counts(y));
            BinaryPrimitives.WriteInt16LittleEndian(_registers.AsSpan(DataX0 + 4), Counts(z));
            Samples++;
        }

        readBuffer[0] = 0;
        for (int i = 1; i < readBuffer.Length; i++)
        {
            readBuffer[i] = _registers[(reg + i - 1) & 0x3F];
        }
    }

    /// <inheritdoc />
    public override void Read(Span<byte> buffer) => throw new NotSupportedException("the binding reads through TransferFullDuplex");

    /// <inheritdoc />
    public override byte ReadByte() => throw new NotSupportedException("the binding reads through TransferFullDuplex");

    private short Counts(float g) => (short)Math.Clamp(Math.Round(g * CountsPerG), -512, 511); // 10-bit
}

/// <summary>
/// An MPU6050 at register level behind <see cref="I2cDevice"/>: a register pointer set by the first byte written,
/// auto-increment, WHO_AM_I 0x68, PWR_MGMT_1's reset bit, ACCEL_CONFIG's full-scale bits (16384 counts/g at ±2 g …
/// 2048 at ±16 g); each read from ACCEL_XOUT_H latches the next sample, big-endian.
/// </summary>
public sealed class SimulatedMpu6050(I2cConnectionSettings settings, SampleSource source) : I2cDevice
{
    private const byte AccelConfig = 0x1C;
    private const byte AccelXoutH = 0x3B;
    private const byte PowerManagement1 = 0x6B;
    private const byte WhoAmI = 0x75;
    private readonly byte[] _registers = new byte[128];
    private int _pointer;

    /// <summary>Reads that throw from now on.</summary>
    public bool Broken { get; set; }

    /// <summary>Samples latched so far.</summary>
    public int Samples { get; private set; }

    /// <inheritdoc />
    public override I2cConnectionSettings ConnectionSettings => settings;

    /// <summary>Counts per g at the configured range.</summary>
    public int CountsPerG => 16384 >> ((_registers[AccelConfig] >> 3) & 0x03);

    /// <inheritdoc />
    public override void Write(ReadOnlySpan<byte> buffer)
    {
        _pointer = buffer[0] & 0x7F;
        for (int i = 1; i < buffer.Length; i++)
        {
            byte v = buffer[i];
            if (_pointer == PowerManagement1 && (v & 0x80) != 0)
            {
                Array.Clear(_registers);
                v &= 0x7F;
            }

            _registers[_pointer] = v;
            _pointer = (_pointer + 1) & 0x7F;
        }

        _registers[WhoAmI] = 0x68;
    }

    /// <inheritdoc />
    public override void WriteByte(byte value) => Write(new[] { value });

    /// <inheritdoc />
    public override void Read(Span<byte> buffer)
    {
        if (Broken)
        {
            throw new IOException("I2C read failed");
        }

        if (_pointer == AccelXoutH)
        {
            (float x, float y, float z) = source();
            BinaryPrimitives.WriteInt16BigEndian(_registers.AsSpan(AccelXoutH), Counts(x));
            BinaryPrimitives.WriteInt16BigEndian(_registers.AsSpan(AccelXoutH + 2), Counts(y));
            BinaryPrimitives.WriteInt16BigEndian(_registers.AsSpan(AccelXoutH + 4), Counts(z));
            Samples++;
        }

        for (int i = 0; i < buffer.Length; i++)
        {
            buffer[i] = _registers[_pointer];
            _pointer = (_pointer + 1) & 0x7F;
        }
    }

    /// <inheritdoc />
    public override byte ReadByte()
    {
        Span<byte> b = stackalloc byte[1];
        Read(b);
        return b[0];
    }

    /// <inheritdoc />
    public override void WriteRead(ReadOnlySpan<byte> writeBuffer, Span<byte> readBuffer)
    {
        Write(writeBuffer);
        Read(readBuffer);
    }

    private short Counts(float g) => (short)Math.Clamp(Math.Round(g * CountsPerG), short.MinValue, short.MaxValue);
}

/// <summary>Buses that hand out the simulated sensors (the gateway's <see cref="ISensorBuses"/> in tests).</summary>
public sealed class SimulatedSensorBuses(SampleSource source) : ISensorBuses
{
    /// <summary>The ADXL345 opened last.</summary>
    public SimulatedAdxl345? Adxl345 { get; private set; }

    /// <summary>The MPU6050 opened last.</summary>
    public SimulatedMpu6050? Mpu6050 { get; private set; }

    /// <inheritdoc />
    public SpiDevice OpenSpi(SpiConnectionSettings settings) => Adxl345 = new SimulatedAdxl345(settings, source);

    /// <inheritdoc />
    public I2cDevice OpenI2c(I2cConnectionSettings settings) => Mpu6050 = new SimulatedMpu6050(settings, source);
}
