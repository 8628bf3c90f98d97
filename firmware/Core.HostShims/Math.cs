namespace TinyMlops.Firmware.Core
{
    /// <summary>
    /// Host stand-in for nanoFramework's <c>System.Math</c> as the ESP32 firmware builds it (single-precision
    /// floating point): every function takes and returns double but computes in float, so results carry float
    /// precision. Like the HMAC stand-in it sits in the core's root namespace, so core code that names <c>Math</c>
    /// binds to it on the host and to nanoFramework's class on the device. Only the members the core uses are here;
    /// a new use fails to compile on the host until its float behaviour is written down.
    /// </summary>
    internal static class Math
    {
        /// <summary>π, a compile-time constant on both platforms.</summary>
        public const double PI = 3.141592653589793;

        /// <summary>Square root at float precision.</summary>
        public static double Sqrt(double d)
        {
            return System.MathF.Sqrt((float)d);
        }

        /// <summary>Base-10 logarithm at float precision.</summary>
        public static double Log10(double d)
        {
            return System.MathF.Log10((float)d);
        }

        /// <summary>Sine at float precision.</summary>
        public static double Sin(double a)
        {
            return System.MathF.Sin((float)a);
        }

        /// <summary>Cosine at float precision.</summary>
        public static double Cos(double a)
        {
            return System.MathF.Cos((float)a);
        }
    }
}
