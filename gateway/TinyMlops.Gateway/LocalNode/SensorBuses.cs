using System.Device.I2c;
using System.Device.Spi;

namespace TinyMlops.Gateway.LocalNode;

/// <summary>
/// Opens the buses a wired sensor sits on. The service uses the Pi's own (<see cref="HardwareSensorBuses"/>); tests
/// register simulated devices behind the same System.Device types the bindings take. The caller owns and disposes
/// what it opens.
/// </summary>
public interface ISensorBuses
{
    /// <summary>An SPI device for <paramref name="settings"/>.</summary>
    SpiDevice OpenSpi(SpiConnectionSettings settings);

    /// <summary>An I2C device for <paramref name="settings"/>.</summary>
    I2cDevice OpenI2c(I2cConnectionSettings settings);
}

/// <summary>The board's real buses (Linux spidev and i2c-dev).</summary>
public sealed class HardwareSensorBuses : ISensorBuses
{
    /// <inheritdoc />
    public SpiDevice OpenSpi(SpiConnectionSettings settings) => SpiDevice.Create(settings);

    /// <inheritdoc />
    public I2cDevice OpenI2c(I2cConnectionSettings settings) => I2cDevice.Create(settings);
}
