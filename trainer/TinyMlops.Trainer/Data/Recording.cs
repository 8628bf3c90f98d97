using System;
using System.Collections.Generic;

namespace TinyMlops.Trainer.Data;

/// <summary>
/// One continuous 3-axis recording (a file, or one run of a multi-run file) in g, with its class and the group it is
/// split by. Splits are made by whole recordings, never by windows of one recording.
/// </summary>
public sealed class Recording
{
    /// <summary>Stable id (file name, or file and run).</summary>
    public required string Id { get; init; }

    /// <summary>Samples per second per axis.</summary>
    public required double SampleRateHz { get; init; }

    /// <summary>X axis in g.</summary>
    public required float[] X { get; init; }

    /// <summary>Y axis in g.</summary>
    public required float[] Y { get; init; }

    /// <summary>Z axis in g.</summary>
    public required float[] Z { get; init; }

    /// <summary>Class name (e.g. healthy, imbalance, bearing-outer).</summary>
    public required string Label { get; init; }

    /// <summary>Operating point the split groups by (e.g. speed); recordings of one group stay together.</summary>
    public required string Group { get; init; }

    /// <summary>True for the healthy class.</summary>
    public bool Healthy => Label == Dataset.HealthyLabel;

    /// <summary>Duration in seconds.</summary>
    public double Seconds => X.Length / SampleRateHz;

    /// <summary>A copy at another rate (see <see cref="Resampler"/>).</summary>
    public Recording ResampledTo(double rateHz) => Math.Abs(rateHz - SampleRateHz) < 1e-9 ? this : new Recording
    {
        Id = Id,
        SampleRateHz = rateHz,
        X = Resampler.Resample(X, SampleRateHz, rateHz),
        Y = Resampler.Resample(Y, SampleRateHz, rateHz),
        Z = Resampler.Resample(Z, SampleRateHz, rateHz),
        Label = Label,
        Group = Group,
    };
}

/// <summary>Recordings loaded from one folder, with the content hash of the files they came from.</summary>
public sealed class Dataset
{
    /// <summary>The label of healthy recordings in every loader.</summary>
    public const string HealthyLabel = "healthy";

    /// <summary>Which loader read it (adi-cbm, uci-fan, plain-csv).</summary>
    public required string Format { get; init; }

    /// <summary>SHA-256 over the file names and bytes, in ordinal name order.</summary>
    public required string ContentHash { get; init; }

    /// <summary>The recordings.</summary>
    public required IReadOnlyList<Recording> Recordings { get; init; }

    /// <summary>Notes on assumptions the loader made (sensitivity, sample rate), for the model card.</summary>
    public IReadOnlyList<string> Assumptions { get; init; } = Array.Empty<string>();
}
