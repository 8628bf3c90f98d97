using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Threading;
using Microsoft.ML.OnnxRuntime;

namespace TinyMlops.Gateway.Verification;

/// <summary>One verifier answer.</summary>
/// <param name="ClassId">Most probable class.</param>
/// <param name="Label">Its name.</param>
/// <param name="IsFault">True unless the class is healthy.</param>
/// <param name="Probability">Its probability.</param>
public readonly record struct Verification(int ClassId, string Label, bool IsFault, float Probability)
{
    /// <summary><see cref="ClassId"/> of a window whose features the model does not take.</summary>
    public const int Unverifiable = -1;

    /// <summary><see cref="ClassId"/> of a window the model gave a non-finite probability for: no verdict at all.</summary>
    public const int NonFinite = -2;
}

/// <summary>A loaded verifier: one long-lived ONNX Runtime session, shared by reference count so a swap never disposes it mid-run.</summary>
public sealed class VerifierModel
{
    private readonly InferenceSession _session;
    private readonly RunOptions _run = new();
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private int _refs = 1;

    private VerifierModel(InferenceSession session, string[] classes, long version, int inputLength, string source)
    {
        _session = session;
        Classes = classes;
        Version = version;
        InputLength = inputLength;
        Source = source;
        _inputNames = new[] { session.InputMetadata.Keys.First() };
        _outputNames = new[] { session.OutputMetadata.Keys.First() };
        HealthyClass = Array.IndexOf(classes, "healthy");
    }

    /// <summary>Class names (from the model's "classes" metadata).</summary>
    public string[] Classes { get; }

    /// <summary>Model version (the ONNX model_version).</summary>
    public long Version { get; }

    /// <summary>Features per window.</summary>
    public int InputLength { get; }

    /// <summary>Index of "healthy", or −1.</summary>
    public int HealthyClass { get; }

    /// <summary>Where it was loaded from.</summary>
    public string Source { get; }

    /// <summary>
    /// Loads and checks a verifier: input [batch, n] float, output [batch, classes] float, "classes" metadata, and a
    /// trial run. Throws <see cref="InvalidDataException"/> saying what is wrong; nothing is left open on failure.
    /// </summary>
    public static VerifierModel Load(byte[] onnx, string source)
    {
        InferenceSession? session = null;
        try
        {
            var options = new SessionOptions { IntraOpNumThreads = 1, InterOpNumThreads = 1, ExecutionMode = ExecutionMode.ORT_SEQUENTIAL, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL };
            try
            {
                session = new InferenceSession(onnx, options);
            }
            finally
            {
                options.Dispose();
            }

            if (session.InputMetadata.Count != 1 || session.OutputMetadata.Count != 1)
            {
                throw new InvalidDataException("a verifier has one input and one output");
            }

            NodeMetadata input = session.InputMetadata.Values.First();
            NodeMetadata output = session.OutputMetadata.Values.First();
            if (input.ElementType != typeof(float) || input.Dimensions.Length != 2 || input.Dimensions[1] <= 0 || output.ElementType != typeof(float))
            {
                throw new InvalidDataException("the verifier's input must be float [batch, features] and its output float [batch, classes]");
            }

            if (!session.ModelMetadata.CustomMetadataMap.TryGetValue("classes", out string? names) || string.IsNullOrWhiteSpace(names))
            {
                throw new InvalidDataException("the verifier has no 'classes' metadata");
            }

            string[] classes = names.Split(',');
            var model = new VerifierModel(session, classes, session.ModelMetadata.Version, input.Dimensions[1], source);
            float[] trial = model.Probabilities(new float[input.Dimensions[1]], 1);
            if (trial.Length != classes.Length || trial.Any(p => !float.IsFinite(p)))
            {
                throw new InvalidDataException($"the verifier's trial run gave {trial.Length} outputs for {classes.Length} classes");
            }

            return model;
        }
        catch (OnnxRuntimeException e)
        {
            session?.Dispose();
            throw new InvalidDataException($"ONNX Runtime refused the verifier: {e.Message}", e);
        }
        catch
        {
            session?.Dispose();
            throw;
        }
    }

    /// <summary>Verifies <paramref name="rows"/> windows whose features lie back to back in <paramref name="features"/>.</summary>
    public Verification[] Verify(float[] features, int rows)
    {
        float[] p = Probabilities(features, rows);
        int c = Classes.Length;
        var result = new Verification[rows];
        for (int r = 0; r < rows; r++)
        {
            int best = 0;
            for (int k = 1; k < c; k++)
            {
                if (p[(r * c) + k] > p[(r * c) + best])
                {
                    best = k;
                }
            }

            bool finite = true;
            for (int k = 0; k < c; k++)
            {
                finite &= float.IsFinite(p[(r * c) + k]);
            }

            result[r] = finite
                ? new Verification(best, Classes[best], best != HealthyClass, p[(r * c) + best])
                : new Verification(Verification.NonFinite, "non_finite_output", false, float.NaN);
        }

        return result;
    }

    /// <summary>Raw class probabilities, [rows × classes].</summary>
    public float[] Probabilities(float[] features, int rows)
    {
        // Zero-copy: the tensor wraps the caller's buffer.
        using OrtValue input = OrtValue.CreateTensorValueFromMemory(features, new long[] { rows, InputLength });
        using IDisposableReadOnlyCollection<OrtValue> outputs = _session.Run(_run, _inputNames, new[] { input }, _outputNames);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    internal bool TryAddRef()
    {
        while (true)
        {
            int r = Volatile.Read(ref _refs);
            if (r <= 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _refs, r + 1, r) == r)
            {
                return true;
            }
        }
    }

    internal void Release()
    {
        if (Interlocked.Decrement(ref _refs) == 0)
        {
            _session.Dispose();
            _run.Dispose();
        }
    }
}

/// <summary>
/// Holds the verifier in use and swaps in a new one without dropping work: a run in progress keeps the model it
/// started with, which is disposed once the last such run ends. Thread-safe.
/// </summary>
public sealed class VerifierHost : IDisposable
{
    private readonly Dictionary<long, VerifierTally> _tallies = [];
    private VerifierModel? _current;

    /// <summary>The model in use, or null.</summary>
    public VerifierModel? Current => Volatile.Read(ref _current);

    /// <summary>Installs <paramref name="model"/>; the old one is released when its runs end.</summary>
    public void Install(VerifierModel model) => Interlocked.Exchange(ref _current, model)?.Release();

    /// <summary>Runs <paramref name="work"/> with the current model (null when none is loaded).</summary>
    public T With<T>(Func<VerifierModel?, T> work)
    {
        VerifierModel? m;
        do
        {
            m = Volatile.Read(ref _current);
        }
        while (m != null && !m.TryAddRef());

        try
        {
            return work(m);
        }
        finally
        {
            m?.Release();
        }
    }

    /// <summary>Counts windows version <paramref name="version"/> judged and those it failed on (an error or a non-finite output).</summary>
    public void Record(long version, int judged, int failed)
    {
        lock (_tallies)
        {
            VerifierTally t = _tallies.GetValueOrDefault(version);
            _tallies[version] = new VerifierTally(t.Judged + judged, t.Failed + failed);
        }
    }

    /// <summary>What version <paramref name="version"/> has judged and failed on since this process started.</summary>
    public VerifierTally Tally(long version)
    {
        lock (_tallies)
        {
            return _tallies.GetValueOrDefault(version);
        }
    }

    /// <inheritdoc />
    public void Dispose() => Interlocked.Exchange(ref _current, null)?.Release();
}

/// <summary>Windows a verifier version judged, and those it failed on, for the health check after a promotion.</summary>
public readonly record struct VerifierTally(long Judged, long Failed)
{
    /// <summary>Failed windows as a share of all it was given (0 when none).</summary>
    public double FailureShare => Judged + Failed == 0 ? 0 : Failed / (double)(Judged + Failed);
}
