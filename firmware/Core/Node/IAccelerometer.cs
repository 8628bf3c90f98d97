namespace TinyMlops.Firmware.Core.Node
{
    /// <summary>
    /// A 3-axis accelerometer as the node samples it (MPU6050 over I2C, ADXL345 over SPI, or a recording in tests).
    /// Follows the dotnet/iot convention: <see cref="TryRead"/> returns false on a failed bus transfer instead of
    /// throwing. Not thread-safe: one sampling thread owns it. The owner of the bus device disposes it.
    /// </summary>
    public interface IAccelerometer
    {
        /// <summary>Reads one sample in g into <paramref name="xyz"/>[0..2]; false when the read failed.</summary>
        bool TryRead(float[] xyz);
    }
}
