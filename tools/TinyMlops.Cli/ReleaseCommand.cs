using System;
using System.Globalization;
using System.Linq;
using TinyMlops.Contracts;
using TinyMlops.Registry;
using TinyMlops.Releases;
using TinyMlops.Trainer;

namespace TinyMlops.Cli;

/// <summary>
/// <c>tinymlops release</c> (register + sign, behind the champion gate), <c>tinymlops models</c> (versions, aliases,
/// lineage, releases), <c>tinymlops models promote</c> and <c>tinymlops gateways assign</c>, all on a local registry
/// folder (the trainer service's <c>Trainer:RegistryDirectory</c>).
/// </summary>
public static class ReleaseCommand
{
    private const string DefaultRegistry = "registry";

    /// <summary><c>release --model DIR [--registry DIR] [--keys DIR] [--eval-data DIR] [--force REASON] [--min-gateway V] [--shadow-agreement X]</c>.</summary>
    public static int Release(Options o)
    {
        string? reason = o.Get("force");
        if (reason != null && string.IsNullOrWhiteSpace(reason))
        {
            throw new UsageException("--force takes the reason the release goes out below the champion (it is recorded with the release)");
        }

        using ModelRegistry registry = ModelRegistry.Open(o.Get("registry") ?? DefaultRegistry);
        KeyStore keys = KeyStore.Open(o.Get("keys") ?? "keys");
        ReleaseOutcome r;
        try
        {
            r = Releasing.Release(new ReleaseRequest
            {
                ModelDirectory = o.Get("model")!,
                Registry = registry,
                Keys = keys,
                EvaluationData = o.Get("eval-data"),
                ForceReason = reason,
                MinGatewayVersion = o.Get("min-gateway") ?? Releasing.CodeVersion.ToString(3),
                ShadowAgreement = o.GetDouble("shadow-agreement", 0.9),
            }, new Progress());
        }
        catch (ReleaseGateException e)
        {
            PrintGate(e.Gate);
            throw new CliException(e.Message);
        }

        PrintGate(r.Gate);
        Console.WriteLine($"registered {r.Model.Version} (parent {r.Model.Parent ?? "none"}, data {Short(r.Model.DatasetHash)}, code {r.Model.CodeVersion})");
        Console.WriteLine($"signed release {r.Release.Sequence} of board class {r.Release.BoardClass} with {keys.Current().Certificate.KeyId}{(r.Release.ForcedReason != null ? $", forced: {r.Release.ForcedReason}" : "")}; canary -> {r.Model.Version}");
        foreach (ReleaseArtifact a in r.Model.Artifacts)
        {
            Console.WriteLine($"  {a.Name,-20} {a.Role,-14} {a.Size,9:N0} B  sha256 {a.Sha256}");
        }

        return 0;
    }

    /// <summary><c>release-app --bundle DIR --version V --runtime R [--registry DIR] [--keys DIR]</c>.</summary>
    public static int ReleaseApp(Options o)
    {
        string folder = o.Get("bundle")!, version = o.Get("version")!, runtime = o.Get("runtime") ?? throw new UsageException("--runtime is required");
        if (!Version.TryParse(version, out Version? v) || v.Build < 0 || v.Revision >= 0)
        {
            throw new UsageException($"--version {version} is not major.minor.patch");
        }

        KeyStore keys = KeyStore.Open(o.Get("keys") ?? "keys");
        Console.WriteLine($"packing {folder} as gateway {version} for {runtime} ...");
        byte[] bundle;
        try
        {
            bundle = AppBundle.Pack(folder, new AppBundleInfo(version, runtime));
        }
        catch (Exception e) when (e is ArgumentException or System.IO.IOException)
        {
            throw new CliException(e.Message);
        }

        using ModelRegistry registry = ModelRegistry.Open(o.Get("registry") ?? DefaultRegistry);
        StoredRelease r = registry.PublishApp(runtime, version, bundle, (sequence, artifact) => keys.Sign(new GatewayAppManifest
        {
            Vendor = keys.Vendor,
            Runtime = runtime,
            Sequence = sequence,
            Created = DateTimeOffset.UtcNow,
            AppVersion = version,
            Artifacts = [artifact],
        }));
        Console.WriteLine($"signed application release {r.Sequence} for {runtime} (gateway {version}, {bundle.Length:N0} B bundle) with {keys.Current().Certificate.KeyId}");
        return 0;
    }

    /// <summary><c>models [--registry DIR] [--board-class N]</c>.</summary>
    public static int List(Options o)
    {
        using ModelRegistry registry = ModelRegistry.Open(o.Get("registry") ?? DefaultRegistry);
        int? boardClass = o.Get("board-class") != null ? o.GetInt("board-class", 0) : null;
        var models = registry.Models(boardClass);
        var aliases = registry.Aliases(boardClass).ToLookup(a => a.Version, a => a.Alias, StringComparer.Ordinal);
        var releases = registry.Releases(models.Select(m => m.BoardClass).Distinct().ToArray()).ToLookup(r => r.Version, StringComparer.Ordinal);
        Console.WriteLine($"{"version",-22} {"class",5} {"registered",-20} {"parent",-22} {"data",-12} {"code",-12} {"releases",-10} aliases");
        foreach (RegisteredModel m in models)
        {
            string rel = string.Join(",", releases[m.Version].Select(r => r.Sequence.ToString(CultureInfo.InvariantCulture) + (r.ForcedReason != null ? "!" : "")));
            Console.WriteLine($"{m.Version,-22} {m.BoardClass,5} {m.Registered:yyyy-MM-dd HH:mm:ss} {m.Parent ?? "-",-22} {Short(m.DatasetHash),-12} {Short(m.CodeVersion),-12} {(rel.Length == 0 ? "-" : rel),-10} {string.Join(",", aliases[m.Version])}");
        }

        foreach (StoredRelease r in releases.SelectMany(g => g).Where(r => r.ForcedReason != null))
        {
            Console.WriteLine($"release {r.Sequence} of class {r.BoardClass} ({r.Version}) was forced past the gate: {r.ForcedReason}");
        }

        foreach (ModelAlias a in registry.AliasHistory(boardClass))
        {
            Console.WriteLine($"{a.SetAt:yyyy-MM-dd HH:mm:ss} class {a.BoardClass} {a.Alias} -> {a.Version}: {a.Reason}");
        }

        return 0;
    }

    /// <summary><c>models promote VERSION --reason TEXT [--alias champion|canary] [--registry DIR]</c>.</summary>
    public static int Promote(Options o)
    {
        using ModelRegistry registry = ModelRegistry.Open(o.Get("registry") ?? DefaultRegistry);
        string version = o.Get("version")!;
        string alias = o.Get("alias") ?? ModelRegistry.Champion;
        if (registry.Find(version) == null)
        {
            throw new CliException($"no version '{version}' in {registry.Location}");
        }

        registry.SetAlias(version, alias, o.Get("reason")!);
        Console.WriteLine($"{alias} -> {version}");
        return 0;
    }

    /// <summary><c>gateways assign ID --board-classes N[,N…] [--registry DIR]</c>.</summary>
    public static int Assign(Options o)
    {
        string id = o.Get("id")!;
        if (!RecordNames.IsValidId(id))
        {
            throw new UsageException($"gateway id '{id}' is not 1-64 letters, digits, '-', '_' or '.'");
        }

        int[] classes = (o.Get("board-classes") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(s => int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v is > 0 and < 256 ? v : throw new UsageException($"board class '{s}' is not 1..255"))
            .ToArray();
        if (classes.Length == 0)
        {
            throw new UsageException("--board-classes takes one or more board classes, e.g. 2,3");
        }

        using ModelRegistry registry = ModelRegistry.Open(o.Get("registry") ?? DefaultRegistry);
        registry.AssignGateway(id, classes);
        Console.WriteLine($"{id} serves board classes {string.Join(", ", classes)}: it sees their releases only");
        return 0;
    }

    private static void PrintGate(System.Collections.Generic.IReadOnlyList<GateFigure> gate)
    {
        Console.WriteLine($"{"gate figure",-26} {"candidate",10} {"champion",10}");
        foreach (GateFigure g in gate)
        {
            Console.WriteLine($"{g.Name,-26} {g.Candidate,10:F4} {(g.Champion is double c ? c.ToString("F4", CultureInfo.InvariantCulture) : "-"),10} {(g.Worse ? "WORSE" : "")}");
        }
    }

    private static string Short(string s) => s.Length > 12 ? s[..12] : s;

    private sealed class Progress : IProgress<string>
    {
        public void Report(string value) => Console.Error.WriteLine("[release] " + value);
    }
}
