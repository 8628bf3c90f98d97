using TinyMlops.Firmware.Core.Models;

namespace TinyMlops.Tests.Shared
{
    /// <summary>
    /// Runs one conformance case (model blob, input rows, expected raw output rows) through the firmware interpreter
    /// and compares bit for bit. Shared by the host xunit tests and the on-device NFUnitTest project.
    /// </summary>
    public static class ConformanceCases
    {
        /// <summary>Returns the number of rows checked; throws on the first mismatch, naming row and byte.</summary>
        public static int Run(string name, byte[] blob, float[] inputs, byte[] expected)
        {
            Int8Model model = Int8Model.Load(blob, ModelFormat.BoardClassAny, 0);
            int n = model.Header.InputLength;
            int outBytes = model.OutputByteCount;
            int rows = inputs.Length / n;
            UpdateCases.Check(rows * n == inputs.Length && rows * outBytes == expected.Length, name + ": input and expected sizes do not match the model");
            float[] row = new float[n];
            byte[] output = new byte[outBytes];
            for (int r = 0; r < rows; r++)
            {
                System.Array.Copy(inputs, r * n, row, 0, n);
                UpdateCases.Check(model.Invoke(row) == Int8Model.StatusOk, name + ": row " + r + " did not run");
                model.CopyOutputBytes(output, 0);
                for (int i = 0; i < outBytes; i++)
                {
                    UpdateCases.Check(output[i] == expected[(r * outBytes) + i], name + ": row " + r + " byte " + i + " is " + output[i] + ", expected " + expected[(r * outBytes) + i]);
                }
            }

            return rows;
        }
    }
}
