using System;
using System.Device.I2c;
using System.Device.Spi;
using System.IO;
using System.Numerics;
using Iot.Device.Adxl345;
using Iot.Device.Imu;
using TinyMlops.Boards;
using TinyMlops.Firmware.Core.Node;

namespace TinyMlops.Gateway.LocalNode;

/// <summary>
/// The core's <see cref="IAccelerometer"/> over a dotnet/iot binding. A failed bus transfer is a false
/// <see cref="IAccelerometer.TryRead"/> (dotnet/iot's Read/TryRead convention), never an exception on the sampling
/// thread. Owns the binding and, through it, the bus device.
/// </summary>
public abstract class BindingAccelerometer : IAccelerometer, IDisposable
{
    /// <summary>Failed reads so far.</summary>
    public long FailedReads { get; private set; }

    /// <inheritdoc />
    public bool TryRead(float[] xyz)
    {
        Vector3 g;
        try
        {
            g = ReadG();
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or TimeoutException or UnauthorizedAccessException)
        {
            FailedReads++;
            return false;
        }

        xyz[0] = g.X;
        xyz[1] = g.Y;
        xyz[2] = g.Z;
        return true;
    }

    /// <inheritdoc />
    public abstract void Dispose();

    /// <summary>One sample in g.</summary>
    protected abstract Vector3 ReadG();

    /// <summary>The sensor <paramref name="sensor"/> on its bus from <paramref name="board"/>'s <c>sensorBuses</c>.</summary>
    public static BindingAccelerometer Open(BoardProfile board, string sensor, int rangeG, ISensorBuses buses)
    {
        if (!board.SensorBuses.TryGetValue(sensor, out BoardBus? bus))
        {
            throw new InvalidDataException($"board '{board.Name}' has no sensorBuses entry for '{sensor}'");
        }

        return sensor switch
        {
            "adxl345" => new Adxl345Accelerometer(buses.OpenSpi(new SpiConnectionSettings(bus.Bus, bus.ChipSelect) { ClockFrequency = Adxl345.SpiClockFrequency, Mode = Adxl345.SpiMode }), rangeG),
            "mpu6050" => new Mpu6050Accelerometer(buses.OpenI2c(new I2cConnectionSettings(bus.Bus, bus.Address)), rangeG),
            _ => throw new InvalidDataException($"sensor '{sensor}' must be adxl345 or mpu6050"),
        };
    }
}

/// <summary>ADXL345 on SPI through <see cref="Adxl345"/> (which reports g).</summary>
public sealed class Adxl345Accelerometer : BindingAccelerometer
{
    private readonly Adxl345 _sensor;

    /// <summary>Configures the sensor for ±<paramref name="rangeG"/> g.</summary>
    public Adxl345Accelerometer(SpiDevice device, int rangeG)
    {
        _sensor = new Adxl345(device, rangeG switch
        {
            2 => GravityRange.Range02,
            4 => GravityRange.Range04,
            8 => GravityRange.Range08,
            16 => GravityRange.Range16,
            _ => throw new ArgumentException($"the ADXL345 has no ±{rangeG} g range", nameof(rangeG)),
        });
    }

    /// <inheritdoc />
    protected override Vector3 ReadG() => _sensor.Acceleration;

    /// <inheritdoc />
    public override void Dispose() => _sensor.Dispose();
}

/// <summary>
/// MPU6050 on I2C through <see cref="Mpu6050"/>. The binding's <c>GetAccelerometer</c> returns m/s² (its scale carries
/// 9.807) divided by 1 + SMPLRT_DIV; the divider is held at 0 here and the result turned back into g.
/// </summary>
public sealed class Mpu6050Accelerometer : BindingAccelerometer
{
    private const float Gravity = 9.807f; // the binding's own constant
    private readonly Mpu6050 _sensor;

    /// <summary>Configures the sensor for ±<paramref name="rangeG"/> g and no sample-rate division.</summary>
    public Mpu6050Accelerometer(I2cDevice device, int rangeG)
    {
        _sensor = new Mpu6050(device);
        _sensor.SampleRateDivider = 0;
        _sensor.AccelerometerRange = rangeG switch
        {
            2 => AccelerometerRange.Range02G,
            4 => AccelerometerRange.Range04G,
            8 => AccelerometerRange.Range08G,
            16 => AccelerometerRange.Range16G,
            _ => throw new ArgumentException($"the MPU6050 has no ±{rangeG} g range", nameof(rangeG)),
        };
    }

    /// <inheritdoc />
    protected override Vector3 ReadG() => _sensor.GetAccelerometer() / Gravity;

    /// <inheritdoc />
    public override void Dispose() => _sensor.Dispose();
}
