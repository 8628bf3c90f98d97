using System.Device.Spi;
using System.Numerics;
using Iot.Device.Adxl345;
using nanoFramework.Hardware.Esp32;
using TinyMlops.Firmware.Core.Node;

namespace TinyMlops.Firmware.App.Hardware
{
    /// <summary>ADXL345 on SPI (pins from the board profile). Owns and disposes its SPI device.</summary>
    public sealed class Adxl345Accelerometer : IAccelerometer, System.IDisposable
    {
        private readonly SpiDevice _bus;
        private readonly Adxl345 _sensor;

        /// <summary>Opens the sensor described by <paramref name="c"/>.</summary>
        public Adxl345Accelerometer(NodeConfig c)
        {
            Configuration.SetPinFunction(c.PinMosi, DeviceFunction.SPI1_MOSI);
            Configuration.SetPinFunction(c.PinMiso, DeviceFunction.SPI1_MISO);
            Configuration.SetPinFunction(c.PinClk, DeviceFunction.SPI1_CLOCK);
            SpiConnectionSettings settings = new SpiConnectionSettings(c.Bus, c.PinCs);
            settings.ClockFrequency = Adxl345.SpiClockFrequency;
            settings.Mode = Adxl345.SpiMode;
            _bus = SpiDevice.Create(settings);
            GravityRange range = c.RangeG >= 16 ? GravityRange.Range16 : (c.RangeG >= 8 ? GravityRange.Range08 : (c.RangeG >= 4 ? GravityRange.Range04 : GravityRange.Range02));
            _sensor = new Adxl345(_bus, range);
        }

        /// <inheritdoc />
        public bool TryRead(float[] xyz)
        {
            try
            {
                Vector3 a = _sensor.Acceleration;
                xyz[0] = (float)a.X;
                xyz[1] = (float)a.Y;
                xyz[2] = (float)a.Z;
                return true;
            }
            catch (System.Exception)
            {
                return false;
            }
        }

        /// <inheritdoc />
        public void Dispose()
        {
            _sensor.Dispose();
            _bus.Dispose();
        }
    }
}
