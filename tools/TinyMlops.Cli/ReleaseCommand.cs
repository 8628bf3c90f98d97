using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using TinyMlops.Contracts;
using TinyMlops.Registry;
using TinyMlops.Releases;
using TinyMlops.Trainer;

namespace TinyMlops.Cli;

/// <summary>
/// <c>tinymlops release</c> (register + sign, behind the champion gate), <c>tinymlops models</c> (versions, aliases,
/// lineage, releases) and <c>tinymlops models promote</c>, on the registry itself (<c>--registry</c>: a folder or a
/// PostgreSQL database) or through a trainer service (<c>--trainer URL</c>, which signs with its own keys); and
/// <c>tinymlops release-app</c> and <c>tinymlops gateways assign</c> on the registry.
/// </summary>
public static class ReleaseCommand
{
    internal const string DefaultRegistry = "registry";

    /// <summary><c>release --model DIR [--registry DIR | --trainer URL] [--keys DIR] [--eval-data DIR] [--force REASON] [--min-gateway V] [--shadow-agreement X]</c>.</summary>
    public static int Release(Options o)
    {
        string? reason = o.Get("force");
        if (reason != null && string.IsNullOrWhiteSpace(reason))
        {
            throw new UsageException("--force takes the reason the release goes out below the champion (it is recorded with the release)");
        }

        ReleaseView view;
        using (TrainerClient? trainer = TrainerClient.From(o))
        {
            if (trainer != null)
            {
                if (o.Get("keys") != null || o.Get("eval-data") != null)
                {
                    throw new UsageException("with --trainer the service signs with its own keys on its own evaluation set (Trainer:KeysDirectory, Trainer:EvaluationData): leave out --keys and --eval-data");
                }

                Console.Error.WriteLine($"[release] uploading {o.Get("model")} to {o.Get("trainer")}; the trainer evaluates it and its champion, then signs");
                view = trainer.Release(o.Get("model")!, new Dictionary<string, string?>
                {
                    ["force"] = reason,
                    ["minGateway"] = o.Get("min-gateway"),
                    ["shadowAgreement"] = o.Get("shadow-agreement"),
                }, PrintGate);
            }
            else
            {
                view = ReleaseLocally(o, reason);
            }
        }

        PrintGate(view.Gate);
        RegisteredModel m = view.Model;
        Console.WriteLine($"registered {m.Version} (parent {m.Parent ?? "none"}, data {Short(m.DatasetHash)}, code {m.CodeVersion})");
        Console.WriteLine($"signed release {view.Release.Sequence} of board class {view.Release.BoardClass} with {view.KeyId}{(view.Release.ForcedReason != null ? $", forced: {view.Release.ForcedReason}" : "")}; canary -> {m.Version}");
        foreach (ReleaseArtifact a in m.Artifacts)
        {
            Console.WriteLine($"  {a.Name,-20} {a.Role,-14} {a.Size,9:N0} B  sha256 {a.Sha256}");
        }

        return 0;
    }

    private static ReleaseView ReleaseLocally(Options o, string? reason)
    {
        using ModelRegistry registry = ModelRegistry.Open(o.Get("registry") ?? DefaultRegistry);
        KeyStore keys = KeyStore.Open(o.Get("keys") ?? "keys");
        try
        {
            return ReleaseView.Of(Releasing.Release(new ReleaseRequest
            {
                ModelDirectory = o.Get("model")!,
                Registry = registry,
                Keys = keys,
                EvaluationData = o.Get("eval-data"),
                ForceReason = reason,
                MinGatewayVersion = o.Get("min-gateway") ?? Releasing.CodeVersion.ToString(3),
                ShadowAgreement = o.GetDouble("shadow-agreement", 0.9),
            }, new Progress()), keys.Current().Certificate.KeyId);
        }
        catch (ReleaseGateException e)
        {
            PrintGate(e.Gate);
            throw new CliException(e.Message);
        }
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

    /// <summary><c>models [--registry DIR | --trainer URL] [--board-class N]</c>.</summary>
    public static int List(Options o)
    {
        int? boardClass = o.Get("board-class") != null ? o.GetInt("board-class", 0) : null;
        ModelsView view;
        using (TrainerClient? trainer = TrainerClient.From(o))
        {
            if (trainer != null)
            {
                view = trainer.Get<ModelsView>("api/admin/models" + (boardClass is int c ? $"?boardClass={c}" : ""));
            }
            else
            {
                using ModelRegistry registry = ModelRegistry.Open(o.Get("registry") ?? DefaultRegistry);
                view = registry.View(boardClass);
            }
        }

        var aliases = view.Aliases.ToLookup(a => a.Version, a => a.Alias, StringComparer.Ordinal);
        var releases = view.Releases.ToLookup(r => r.Version, StringComparer.Ordinal);
        Console.WriteLine($"{"version",-22} {"class",5} {"registered",-20} {"parent",-22} {"data",-12} {"code",-12} {"releases",-10} aliases");
        foreach (RegisteredModel m in view.Models)
        {
            string rel = string.Join(",", releases[m.Version].Select(r => r.Sequence.ToString(CultureInfo.InvariantCulture) + (r.ForcedReason != null ? "!" : "")));
            Console.WriteLine($"{m.Version,-22} {m.BoardClass,5} {m.Registered:yyyy-MM-dd HH:mm:ss} {m.Parent ?? "-",-22} {Short(m.DatasetHash),-12} {Short(m.CodeVersion),-12} {(rel.Length == 0 ? "-" : rel),-10} {string.Join(",", aliases[m.Version])}");
        }

        foreach (ReleaseSummary r in view.Releases.Where(r => r.ForcedReason != null))
        {
            Console.WriteLine($"release {r.Sequence} of class {r.BoardClass} ({r.Version}) was forced past the gate: {r.ForcedReason}");
        }

        foreach (ModelAlias a in view.History)
        {
            Console.WriteLine($"{a.SetAt:yyyy-MM-dd HH:mm:ss} class {a.BoardClass} {a.Alias} -> {a.Version}: {a.Reason}");
        }

        return 0;
    }

    /// <summary><c>models promote VERSION --reason TEXT [--alias champion|canary] [--registry DIR | --trainer URL]</c>.</summary>
    public static int Promote(Options o)
    {
        string version = o.Get("version")!;
        string alias = o.Get("alias") ?? ModelRegistry.Champion;
        using (TrainerClient? trainer = TrainerClient.From(o))
        {
            if (trainer != null)
            {
                trainer.Post($"api/admin/models/{Uri.EscapeDataString(version)}/alias", new { target = alias, reason = o.Get("reason") });
                Console.WriteLine($"{alias} -> {version}");
                return 0;
            }
        }

        using ModelRegistry registry = ModelRegistry.Open(o.Get("registry") ?? DefaultRegistry);
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
