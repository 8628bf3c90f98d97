using nanoFramework.TestFramework;
using TinyMlops.Tests.Shared;

namespace TinyMlops.Firmware.NFUnitTest
{
    /// <summary>The conformance vectors, bit for bit, on the device (or the nanoCLR virtual device).</summary>
    [TestClass]
    public class ConformanceTests
    {
        /// <summary>Every case in <see cref="ConformanceData"/>.</summary>
        [TestMethod]
        public void EveryCaseMatchesBitForBit()
        {
            for (int i = 0; i < ConformanceData.Cases.Length; i++)
            {
                string[] c = ConformanceData.Cases[i];
                byte[] raw = System.Convert.FromBase64String(c[2]);
                float[] inputs = new float[raw.Length / 4];
                for (int k = 0; k < inputs.Length; k++)
                {
                    inputs[k] = System.BitConverter.ToSingle(raw, 4 * k);
                }

                int rows = ConformanceCases.Run(c[0], System.Convert.FromBase64String(c[1]), inputs, System.Convert.FromBase64String(c[3]));
                Assert.IsTrue(rows > 0, c[0] + " has no rows");
            }
        }
    }
}
