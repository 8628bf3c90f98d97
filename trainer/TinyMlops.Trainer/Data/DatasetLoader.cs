using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Security.Cryptography;
using System.Text;

namespace TinyMlops.Trainer.Data;

/// <summary>
/// Reads a folder of recordings in one of three layouts (docs/datasets.md):
/// <list type="bullet">
/// <item>ADI CbM fault simulator: <c>*_*.Wfm.csv</c>, ';'-separated <c>time;x;y;z</c> in volts, 20 kHz, label in the file name;</item>
/// <item>UCI accelerometer fan: <c>accelerometer.csv</c> with <c>Sensor Configuration,Rotation Speed Percentage,x,y,z</c> in g;</item>
/// <item>plain TinyMlops CSV: any <c>*.csv</c> starting with <c># tinymlops-recording sample_rate_hz=R label=L [group=G]</c>, then <c>x,y,z</c> in g.</item>
/// </list>
/// Malformed files are refused with the file and line.
/// </summary>
public static class DatasetLoader
{
    /// <summary>ADXL356C sensitivity on its ±10 g range (datasheet: 80 mV/g); the ADI files carry volts.</summary>
    public const double AdxlVoltsPerG = 0.080;

    /// <summary>
    /// Sample rate assumed for the UCI fan recording, whose shipped copy does not state it; override with
    /// <c>uciSampleRateHz</c>. The model card records the assumption.
    /// </summary>
    public const double UciAssumedSampleRateHz = 100;

    /// <summary>Loads every recording under <paramref name="directory"/>.</summary>
    public static Dataset Load(string directory, double uciSampleRateHz = UciAssumedSampleRateHz)
    {
        if (File.Exists(directory))
        {
            throw new InvalidDataException($"{directory} is a file: give the folder that holds the recordings");
        }

        if (!Directory.Exists(directory))
        {
            throw new DirectoryNotFoundException($"data folder {directory} does not exist");
        }

        string[] adi = Directory.GetFiles(directory, "*.Wfm.csv").OrderBy(f => f, StringComparer.Ordinal).ToArray();
        if (adi.Length > 0)
        {
            return new Dataset
            {
                Format = "adi-cbm",
                ContentHash = Hash(directory, adi),
                Recordings = LoadAll(adi),
                Assumptions = new[] { $"ADXL356C volts converted to g at {AdxlVoltsPerG * 1000:0} mV/g (its ±10 g range)" },
            };
        }

        string uci = Path.Combine(directory, "accelerometer.csv");
        if (File.Exists(uci))
        {
            return new Dataset
            {
                Format = "uci-fan",
                ContentHash = Hash(directory, new[] { uci }),
                Recordings = LoadUci(uci, uciSampleRateHz),
                Assumptions = new[] { $"UCI fan sample rate taken as {uciSampleRateHz.ToString(CultureInfo.InvariantCulture)} Hz (not stated in the data)" },
            };
        }

        string[] plain = Directory.GetFiles(directory, "*.csv").OrderBy(f => f, StringComparer.Ordinal).ToArray();
        if (plain.Length == 0)
        {
            throw new InvalidDataException($"{directory} holds no recordings (ADI *.Wfm.csv, UCI accelerometer.csv or TinyMlops *.csv)");
        }

        return new Dataset { Format = "plain-csv", ContentHash = Hash(directory, plain), Recordings = plain.Select(LoadPlain).ToList() };
    }

    // Files are read in parallel; a bad one is reported as itself (its file and line), not as an AggregateException.
    private static List<Recording> LoadAll(string[] adi)
    {
        try
        {
            return adi.AsParallel().AsOrdered().Select(LoadAdi).ToList();
        }
        catch (AggregateException e) when (e.InnerExceptions.Count > 0)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(e.InnerExceptions.OrderBy(x => x.Message, StringComparer.Ordinal).First()).Throw();
            throw;
        }
    }

    /// <summary>The class of an ADI file from its name <c>RPM_Bearing_Shaft_Balance_Alignment_Load</c>.</summary>
    public static (string Label, string Rpm) AdiLabel(string fileName)
    {
        string[] p = Path.GetFileName(fileName).Split('.')[0].Split('_');
        if (p.Length < 6)
        {
            throw new InvalidDataException($"{fileName}: expected RPM_Bearing_Shaft_Balance_Alignment_Load");
        }

        var faults = new List<string>();
        faults.AddRange(p[1] switch
        {
            "GoB" => Array.Empty<string>(),
            "LIR" or "HIR" => new[] { "bearing-inner" },
            "LOR" or "HOR" => new[] { "bearing-outer" },
            "LBF" or "HBF" => new[] { "bearing-ball" },
            _ => throw new InvalidDataException($"{fileName}: unknown bearing code {p[1]}"),
        });
        if (p[2] == "BS")
        {
            faults.Add("bent-shaft");
        }

        if (p[3] != "BaLo")
        {
            faults.Add("imbalance");
        }

        if (p[4] == "MA")
        {
            faults.Add("misalignment");
        }

        return (faults.Count == 0 ? Dataset.HealthyLabel : string.Join("+", faults), p[0]);
    }

    private static Recording LoadAdi(string path)
    {
        (string label, string rpm) = AdiLabel(path);
        var t = new List<double>();
        var x = new List<float>();
        var y = new List<float>();
        var z = new List<float>();
        int line = 0;
        foreach (string text in File.ReadLines(path))
        {
            line++;
            string[] f = text.Split(';');
            if (f.Length < 4 || !double.TryParse(f[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double time)
                || !TryVolts(f[1], out float vx) || !TryVolts(f[2], out float vy) || !TryVolts(f[3], out float vz))
            {
                throw new InvalidDataException($"{path}:{line}: expected time;x;y;z");
            }

            t.Add(time);
            x.Add(vx);
            y.Add(vy);
            z.Add(vz);
        }

        if (t.Count < 2 || !(t[1] > t[0]))
        {
            throw new InvalidDataException($"{path}: fewer than two samples or no time step");
        }

        double rate = Math.Round((t.Count - 1) / (t[^1] - t[0]));
        return new Recording { Id = Path.GetFileName(path), SampleRateHz = rate, X = x.ToArray(), Y = y.ToArray(), Z = z.ToArray(), Label = label, Group = rpm };
    }

    private static bool TryVolts(string s, out float g)
    {
        bool ok = double.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && double.IsFinite(v);
        g = (float)(v / AdxlVoltsPerG);
        return ok;
    }

    private static List<Recording> LoadUci(string path, double rate)
    {
        var groups = new SortedDictionary<(int Config, int Speed), (List<float> X, List<float> Y, List<float> Z)>();
        int line = 0;
        foreach (string text in File.ReadLines(path))
        {
            line++;
            if (line == 1)
            {
                if (!text.StartsWith("Sensor Configuration,Rotation Speed Percentage,x,y,z", StringComparison.Ordinal))
                {
                    throw new InvalidDataException($"{path}:1: not the UCI accelerometer header");
                }

                continue;
            }

            string[] p = text.Split(',');
            if (p.Length != 5 || !int.TryParse(p[0], out int config) || !int.TryParse(p[1], out int speed) || !TryG(p[2], out float x) || !TryG(p[3], out float y) || !TryG(p[4], out float z))
            {
                throw new InvalidDataException($"{path}:{line}: expected configuration,speed,x,y,z");
            }

            if (!groups.TryGetValue((config, speed), out var g))
            {
                groups[(config, speed)] = g = (new List<float>(), new List<float>(), new List<float>());
            }

            g.X.Add(x);
            g.Y.Add(y);
            g.Z.Add(z);
        }

        return groups.Select(kv => new Recording
        {
            Id = $"config{kv.Key.Config}-speed{kv.Key.Speed:D3}",
            SampleRateHz = rate,
            X = kv.Value.X.ToArray(),
            Y = kv.Value.Y.ToArray(),
            Z = kv.Value.Z.ToArray(),
            Label = kv.Key.Config == 1 ? Dataset.HealthyLabel : "imbalance",
            Group = "speed" + kv.Key.Speed.ToString("D3", CultureInfo.InvariantCulture),
        }).ToList();
    }

    private static Recording LoadPlain(string path)
    {
        using var reader = new StreamReader(path);
        string? header = reader.ReadLine();
        if (header == null || !header.StartsWith("# tinymlops-recording", StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path}:1: expected '# tinymlops-recording sample_rate_hz=R label=L [group=G]'");
        }

        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (string[] kv in header[21..].Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(kv => kv.Split('=', 2)).Where(kv => kv.Length == 2))
        {
            if (!meta.TryAdd(kv[0], kv[1]))
            {
                throw new InvalidDataException($"{path}:1: '{kv[0]}' is given twice");
            }
        }

        if (!meta.TryGetValue("sample_rate_hz", out string? r) || !double.TryParse(r, NumberStyles.Float, CultureInfo.InvariantCulture, out double rate) || !(rate > 0) || !meta.TryGetValue("label", out string? label))
        {
            throw new InvalidDataException($"{path}:1: sample_rate_hz (positive) and label are required");
        }

        // The rule the ingestion service writes by (TinyMlops.Contracts.RecordNames).
        if (!TinyMlops.Contracts.RecordNames.IsValidLabel(label))
        {
            throw new InvalidDataException($"{path}:1: label '{label}' is not 1-{TinyMlops.Contracts.RecordNames.MaxLabelLength} letters, digits, '-', '_' or '.'");
        }

        if (meta.TryGetValue("group", out string? group) && !TinyMlops.Contracts.RecordNames.IsValidId(group))
        {
            throw new InvalidDataException($"{path}:1: group '{group}' is not 1-64 letters, digits, '-', '_' or '.'");
        }

        if (reader.ReadLine()?.Trim() != "x,y,z")
        {
            throw new InvalidDataException($"{path}:2: expected the column header x,y,z");
        }

        var x = new List<float>();
        var y = new List<float>();
        var z = new List<float>();
        int line = 2;
        for (string? text = reader.ReadLine(); text != null; text = reader.ReadLine())
        {
            line++;
            string[] p = text.Split(',');
            if (p.Length != 3 || !TryG(p[0], out float a) || !TryG(p[1], out float b) || !TryG(p[2], out float c))
            {
                throw new InvalidDataException($"{path}:{line}: expected x,y,z as finite numbers in g");
            }

            x.Add(a);
            y.Add(b);
            z.Add(c);
        }

        return new Recording { Id = Path.GetFileName(path), SampleRateHz = rate, X = x.ToArray(), Y = y.ToArray(), Z = z.ToArray(), Label = label, Group = meta.GetValueOrDefault("group") ?? Path.GetFileName(path) };
    }

    private static bool TryG(string s, out float v) => float.TryParse(s.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out v) && float.IsFinite(v);

    private static string Hash(string root, IEnumerable<string> files)
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (string f in files.OrderBy(f => Path.GetFileName(f), StringComparer.Ordinal))
        {
            sha.AppendData(Encoding.UTF8.GetBytes(Path.GetFileName(f) + "\n"));
            sha.AppendData(File.ReadAllBytes(f));
        }

        return Convert.ToHexStringLower(sha.GetHashAndReset());
    }
}
