using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using TinyMlops.Firmware.Core.Common;
using TinyMlops.Firmware.Core.Models;

namespace TinyMlops.TestBed;

/// <summary>What simulated nodes replay and run when a test or benchmark only needs load, not detection quality.</summary>
public static class Recordings
{
    /// <summary>The shipped fan recording (<c>data/uci-accelerometer-fan/accelerometer.csv</c>, g per axis) under checkout <paramref name="root"/>.</summary>
    public static (float[] X, float[] Y, float[] Z) Fan(string root)
    {
        string file = Path.Combine(root, "data", "uci-accelerometer-fan", "accelerometer.csv");
        var x = new List<float>();
        var y = new List<float>();
        var z = new List<float>();
        int line = 0;
        foreach (string text in File.ReadLines(file))
        {
            if (line++ == 0)
            {
                continue; // header
            }

            string[] p = text.Split(',');
            if (p.Length < 5 || !float.TryParse(p[2], NumberStyles.Float, CultureInfo.InvariantCulture, out float a)
                || !float.TryParse(p[3], NumberStyles.Float, CultureInfo.InvariantCulture, out float b) || !float.TryParse(p[4], NumberStyles.Float, CultureInfo.InvariantCulture, out float c))
            {
                throw new InvalidDataException($"{file} line {line}: expected five comma-separated columns with x, y, z in the last three");
            }

            x.Add(a);
            y.Add(b);
            z.Add(c);
        }

        return (x.ToArray(), y.ToArray(), z.ToArray());
    }

    /// <summary>
    /// A detector that calls every window suspicious: the conformance PCA model for 36 features (the esp32-wroom-32
    /// feature count) with its threshold at the minimum, as model version <paramref name="version"/>. Every window
    /// becomes an event, so a fleet's event rate is its window rate.
    /// </summary>
    public static byte[] EveryWindowSuspicious(string root, uint version = 1)
    {
        byte[] b = File.ReadAllBytes(Path.Combine(root, "tests", "conformance", "pca-36-6", "model.tmlm"));
        LittleEndian.WriteUInt32(b, ModelFormat.ModelVersionOffset, version);
        LittleEndian.WriteInt32(b, ModelFormat.ThresholdOffset, int.MinValue);
        return ModelFormat.Seal(b);
    }
}
