using System.Device.I2c;
using System.Numerics;
using Iot.Device.Imu;
using nanoFramework.Hardware.Esp32;
using TinyMlops.Firmware.Core.Node;

namespace TinyMlops.Firmware.App.Hardware
{
    /// <summary>MPU6050 on I2C (pins and address from the board profile). Owns and disposes its I2C device.</summary>
    public sealed class Mpu6050Accelerometer : IAccelerometer, System.IDisposable
    {
        private readonly I2cDevice _bus;
        private readonly Mpu6050 _sensor;

        /// <summary>Opens the sensor described by <paramref name="c"/>.</summary>
        public Mpu6050Accelerometer(NodeConfig c)
        {
            Configuration.SetPinFunction(c.PinSda, DeviceFunction.I2C1_DATA);
            Configuration.SetPinFunction(c.PinScl, DeviceFunction.I2C1_CLOCK);
            _bus = I2cDevice.Create(new I2cConnectionSettings(c.Bus, c.I2cAddress, I2cBusSpeed.FastMode));
            _sensor = new Mpu6050(_bus);
            _sensor.AccelerometerRange = c.RangeG >= 16 ? AccelerometerRange.Range16G : (c.RangeG >= 8 ? AccelerometerRange.Range08G : (c.RangeG >= 4 ? AccelerometerRange.Range04G : AccelerometerRange.Range02G));
            // 1 kHz output rate divided down to the profile's rate.
            _sensor.SampleRateDivider = (byte)((1000 / c.SampleRateHz) - 1);
        }

        /// <inheritdoc />
        public bool TryRead(float[] xyz)
        {
            try
            {
                Vector3 a = _sensor.GetAccelerometer();
                // The binding reports m/s^2; the models work in g.
                xyz[0] = (float)(a.X / 9.80665);
                xyz[1] = (float)(a.Y / 9.80665);
                xyz[2] = (float)(a.Z / 9.80665);
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
