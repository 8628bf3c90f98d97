using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Text.Json;
using TinyMlops.Firmware.Core.Models;

namespace TinyMlops.Quantization;

/// <summary>One conformance case: a model, its inputs and the outputs the int8 reference computes for them.</summary>
public sealed record ConformanceCase(string Name, QuantizedModel Model, float[][] Inputs, byte[][] Expected)
{
    /// <summary>Output bytes per input row.</summary>
    public int OutputBytes => Expected[0].Length;
}

/// <summary>
/// Builds the conformance vectors kept under tests/conformance: one folder per case holding <c>model.tmlm</c>,
/// <c>inputs.f32</c> (rows of little-endian float32), <c>expected.bin</c> (rows of raw output bytes) and
/// <c>case.json</c>. Expected outputs come from <see cref="ReferenceInterpreter"/>; the firmware must match them bit
/// for bit. Everything is seeded, so regenerating gives identical files.
/// </summary>
public static class ConformanceVectors
{
    /// <summary>Feature count of the realistic cases: 3 axes x (4 statistics + 8 bands).</summary>
    public const int Features = 36;

    /// <summary>The cases: logistic, MLP, PCA reconstruction, k-means distance, autoencoder and arithmetic edge cases.</summary>
    public static IReadOnlyList<ConformanceCase> Build()
    {
        var cases = new List<ConformanceCase>();
        var rng = new Random(20261123);
        float[][] calibration = Gaussian(rng, 256, Features, 1.0);
        float[][] inputs = Gaussian(rng, 48, Features, 1.6).Concat(EdgeInputs(Features)).ToArray();
        (float[] mean, float[] std) = Standardisation(rng, Features);

        cases.Add(Case("logistic-36", new FloatDetector
        {
            Mean = mean, Std = std, Head = DetectorHead.Direct, Threshold = 0.0,
            Layers = { RandomLayer(rng, Features, 1, relu: false) },
        }, calibration, inputs, 101));

        cases.Add(Case("mlp-36-16-8-3", new FloatDetector
        {
            Mean = mean, Std = std, Head = DetectorHead.Direct,
            Layers = { RandomLayer(rng, Features, 16, relu: true), RandomLayer(rng, 16, 8, relu: true), RandomLayer(rng, 8, 3, relu: false) },
        }, calibration, inputs, 102));

        DenseLayer encode = RandomLayer(rng, Features, 6, relu: false);
        var decode = new DenseLayer(Transpose(encode.Weights), new float[Features], false);
        cases.Add(Case("pca-36-6", new FloatDetector
        {
            Mean = mean, Std = std, Head = DetectorHead.ReconstructionError, Threshold = 20,
            Layers = { encode with { Bias = new float[6] }, decode },
        }, calibration, inputs, 103));

        cases.Add(Case("kmeans-36-8", new FloatDetector
        {
            Mean = mean, Std = std, Head = DetectorHead.CentroidDistance, Threshold = 30,
            Centroids = Gaussian(rng, 8, Features, 0.8),
        }, calibration, inputs, 104));

        cases.Add(Case("autoencoder-36-12-4-12-36", new FloatDetector
        {
            Mean = mean, Std = std, Head = DetectorHead.ReconstructionError, Threshold = 25,
            Layers =
            {
                RandomLayer(rng, Features, 12, relu: true), RandomLayer(rng, 12, 4, relu: true),
                RandomLayer(rng, 4, 12, relu: true), RandomLayer(rng, 12, Features, relu: false),
            },
        }, calibration, inputs, 105));

        cases.Add(EdgeCase());
        return cases;
    }

    /// <summary>Writes every case under <paramref name="directory"/> (one sub-folder per case).</summary>
    public static void Write(string directory, IReadOnlyList<ConformanceCase> cases)
    {
        foreach (ConformanceCase c in cases)
        {
            string dir = Path.Combine(directory, c.Name);
            Directory.CreateDirectory(dir);
            File.WriteAllBytes(Path.Combine(dir, "model.tmlm"), c.Model.ToBlob());
            File.WriteAllBytes(Path.Combine(dir, "inputs.f32"), c.Inputs.SelectMany(r => r.SelectMany(BitConverter.GetBytes)).ToArray());
            File.WriteAllBytes(Path.Combine(dir, "expected.bin"), c.Expected.SelectMany(r => r).ToArray());
            var info = new
            {
                name = c.Name,
                rows = c.Inputs.Length,
                inputLength = c.Inputs[0].Length,
                outputBytes = c.OutputBytes,
                outputType = c.Model.Tensors[c.Model.OutputTensor].Type.ToString().ToLowerInvariant(),
                threshold = c.Model.Threshold,
                macs = c.Model.Ops.Sum(MacsOf(c.Model)),
                parameterBytes = c.Model.ParameterBytes,
                workingBytes = c.Model.WorkingBytes,
            };
            File.WriteAllText(Path.Combine(dir, "case.json"), JsonSerializer.Serialize(info, new JsonSerializerOptions { WriteIndented = true }) + "\n");
        }
    }

    /// <summary>Reads a case folder back: blob, input rows, expected rows.</summary>
    public static (byte[] Blob, float[][] Inputs, byte[][] Expected) Read(string caseDirectory)
    {
        byte[] blob = File.ReadAllBytes(Path.Combine(caseDirectory, "model.tmlm"));
        using JsonDocument info = JsonDocument.Parse(File.ReadAllText(Path.Combine(caseDirectory, "case.json")));
        int rows = info.RootElement.GetProperty("rows").GetInt32();
        int n = info.RootElement.GetProperty("inputLength").GetInt32();
        int outBytes = info.RootElement.GetProperty("outputBytes").GetInt32();
        byte[] raw = File.ReadAllBytes(Path.Combine(caseDirectory, "inputs.f32"));
        byte[] expected = File.ReadAllBytes(Path.Combine(caseDirectory, "expected.bin"));
        if (raw.Length != rows * n * 4 || expected.Length != rows * outBytes)
        {
            throw new InvalidDataException($"{caseDirectory}: file sizes do not match case.json");
        }

        var inputs = new float[rows][];
        var outputs = new byte[rows][];
        for (int r = 0; r < rows; r++)
        {
            inputs[r] = new float[n];
            for (int i = 0; i < n; i++)
            {
                inputs[r][i] = BitConverter.ToSingle(raw, ((r * n) + i) * 4);
            }

            outputs[r] = expected.AsSpan(r * outBytes, outBytes).ToArray();
        }

        return (blob, inputs, outputs);
    }

    /// <summary>Multiply-accumulates of one op.</summary>
    public static Func<OpSpec, long> MacsOf(QuantizedModel m) => op => Reference.ReferenceOps.For(op.Code).Macs(m, op);

    private static ConformanceCase Case(string name, FloatDetector detector, float[][] calibration, float[][] inputs, uint id)
    {
        QuantizedModel m = PostTrainingQuantizer.Quantize(detector, calibration, id, 1, ModelFormat.BoardClassAny);
        return new ConformanceCase(name, m, inputs, inputs.Select(x => ReferenceInterpreter.Run(m, x)).ToArray());
    }

    // Hand-built model that drives the arithmetic to its corners: saturating quantisation, ties, the largest and
    // smallest multipliers and shifts, biases near the int32 range, int32 wrap, and a stand-alone ReLU.
    private static ConformanceCase EdgeCase()
    {
        const int n = 8;
        var m = new QuantizedModel { ModelId = 199, ModelVersion = 1 };
        int input = m.AddInput(n);
        int q = m.AddInt8(n, 0.5f, -3);
        float[] mul = { 1f, 2f, 0.5f, 1000f, -1f, 1e-3f, 3f, 1f };
        float[] add = { -3f, 0.5f, -0.5f, 0f, -3f, 127f, -128f, 0.25f };
        m.Ops.Add(new OpSpec(ModelFormat.OpQuantize, new[] { input, m.AddConst(mul), m.AddConst(add), q }));
        const int outs = 8;
        var rng = new Random(7);
        var w = new sbyte[outs * n];
        for (int i = 0; i < w.Length; i++)
        {
            w[i] = (sbyte)(i % 5 == 0 ? -128 : (i % 7 == 0 ? 127 : rng.Next(-127, 128)));
        }

        int[] bias = { 0, int.MaxValue - 1000, int.MinValue + 1000, 12345, -54321, 1 << 20, -(1 << 20), 7 };
        int[] mult = { 1 << 30, int.MaxValue, 1 << 30, 1518500250, 1073741825, int.MaxValue, 1 << 30, 1395864371 };
        sbyte[] shift = { 0, -31, 30, -8, -1, 1, -20, -5 };
        int fc = m.AddInt8(outs, 0.25f, 5);
        m.Ops.Add(new OpSpec(ModelFormat.OpFullyConnected, new[] { q, m.AddConst(w), m.AddConst(bias), m.AddConst(mult), m.AddConst(shift), fc }, -100, 100));
        int relu = m.AddInt8(outs, 0.25f, 5);
        m.Ops.Add(new OpSpec(ModelFormat.OpRelu, new[] { fc, relu }));
        m.OutputTensor = relu;
        float[][] inputs = Gaussian(new Random(8), 24, n, 40.0).Concat(EdgeInputs(n)).ToArray();
        return new ConformanceCase("edge-arithmetic", m, inputs, inputs.Select(x => ReferenceInterpreter.Run(m, x)).ToArray());
    }

    private static IEnumerable<float[]> EdgeInputs(int n)
    {
        yield return new float[n];
        yield return Enumerable.Repeat(1e30f, n).ToArray();
        yield return Enumerable.Repeat(-1e30f, n).ToArray();
        yield return Enumerable.Range(0, n).Select(i => i + 0.5f).ToArray();       // exact .5 ties
        yield return Enumerable.Range(0, n).Select(i => -i - 0.5f).ToArray();
        yield return Enumerable.Range(0, n).Select(i => (i % 2 == 0 ? 1 : -1) * 1.5e-38f).ToArray(); // tiny
    }

    private static (float[] Mean, float[] Std) Standardisation(Random rng, int n)
    {
        var mean = new float[n];
        var std = new float[n];
        for (int i = 0; i < n; i++)
        {
            mean[i] = (float)(rng.NextDouble() - 0.5);
            std[i] = (float)(0.5 + rng.NextDouble());
        }

        return (mean, std);
    }

    private static DenseLayer RandomLayer(Random rng, int inputs, int outputs, bool relu)
    {
        double a = Math.Sqrt(2.0 / inputs);
        var w = new float[outputs][];
        for (int o = 0; o < outputs; o++)
        {
            w[o] = Enumerable.Range(0, inputs).Select(_ => (float)(Normal(rng) * a)).ToArray();
        }

        return new DenseLayer(w, Enumerable.Range(0, outputs).Select(_ => (float)(Normal(rng) * 0.1)).ToArray(), relu);
    }

    private static float[][] Transpose(float[][] w)
    {
        var t = new float[w[0].Length][];
        for (int i = 0; i < t.Length; i++)
        {
            t[i] = w.Select(row => row[i]).ToArray();
        }

        return t;
    }

    private static float[][] Gaussian(Random rng, int rows, int n, double sigma) =>
        Enumerable.Range(0, rows).Select(_ => Enumerable.Range(0, n).Select(_ => (float)(Normal(rng) * sigma)).ToArray()).ToArray();

    private static double Normal(Random rng)
    {
        double u1 = 1.0 - rng.NextDouble();
        double u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }
}
