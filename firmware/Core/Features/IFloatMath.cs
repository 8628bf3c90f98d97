using System;

namespace TinyMlops.Firmware.Core.Features
{
    /// <summary>
    /// The few transcendental functions the feature code needs. On the ESP32 the nanoFramework firmware evaluates
    /// System.Math's double functions at float precision; on a host they are double precision, rounded to float.
    /// Feature code calls only these, outside its inner loops, so the two platforms can be compared (the tests
    /// plug in a float-precision implementation to bound the difference).
    /// </summary>
    public interface IFloatMath
    {
        /// <summary>Square root.</summary>
        float Sqrt(float x);

        /// <summary>Base-10 logarithm.</summary>
        float Log10(float x);

        /// <summary>Sine of an angle in radians.</summary>
        float Sin(float x);

        /// <summary>Cosine of an angle in radians.</summary>
        float Cos(float x);
    }

    /// <summary>
    /// <see cref="IFloatMath"/> through <c>Math</c>: on the device nanoFramework's System.Math (float precision on the
    /// ESP32), on the host the stand-in in Core.HostShims that computes the same way.
    /// </summary>
    public sealed class SystemFloatMath : IFloatMath
    {
        /// <summary>Shared instance (stateless).</summary>
        public static readonly SystemFloatMath Instance = new SystemFloatMath();

        /// <inheritdoc />
        public float Sqrt(float x)
        {
            return (float)Math.Sqrt(x);
        }

        /// <inheritdoc />
        public float Log10(float x)
        {
            return (float)Math.Log10(x);
        }

        /// <inheritdoc />
        public float Sin(float x)
        {
            return (float)Math.Sin(x);
        }

        /// <inheritdoc />
        public float Cos(float x)
        {
            return (float)Math.Cos(x);
        }
    }
}
