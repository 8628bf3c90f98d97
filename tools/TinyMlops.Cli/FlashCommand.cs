using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Threading;
using TinyMlops.Boards;
using TinyMlops.Contracts;
using TinyMlops.TestBed;

namespace TinyMlops.Cli;

/// <summary>
/// <c>tinymlops flash</c>: one new node at the bench, start to finish. It resolves the board's nanoff target, creates
/// the node's identity (or takes up the one an interrupted run left), stages the node's files (its provisioning file
/// and the board class's champion model, installed into the node's A/B storage by the core's own update state
/// machine) with the <c>deploy.json</c> nanoff's file deployment reads, runs nanoff (firmware, application image, files)
/// streaming its output, registers the node with the trainer's registry and its gateway only once every nanoff step
/// succeeded, and waits for the node's first telemetry through the gateway. Each finished step is kept in the node's
/// <c>flash-state.json</c>, so running the same command after a failure carries on where it stopped. <c>--dry-run</c>
/// prints every file and command line and does nothing.
/// </summary>
public static class FlashCommand
{
    /// <summary>The file in the node's output folder that records what is done.</summary>
    public const string StateFile = "flash-state.json";

    private const long MaxImageBytes = 4L << 20;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerOptions.Web) { WriteIndented = true };

    /// <summary>Runs the command.</summary>
    public static int Run(Options o)
    {
        BoardProfile board = ProvisionCommand.SensorBoard(ProvisionCommand.Required(o, "board"));
        string target = board.NanoffTarget ?? throw new UsageException($"board '{board.Name}' names no nanoff target");
        string port = ProvisionCommand.Required(o, "port");
        if (port.Length > 200 || port.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
        {
            throw new UsageException($"--port '{LogText.Safe(port)}' is not a serial port name (COM3, /dev/ttyUSB0)");
        }

        string node = ProvisionCommand.Required(o, "node");
        ProvisionCommand.CheckNodeId(node);
        string? site = o.Get("site");
        if (site != null && (site.Length > 200 || site.Any(char.IsControl)))
        {
            throw new UsageException("--site must be one line of at most 200 characters");
        }

        string? app = o.Get("app") is { } a ? Path.GetFullPath(a) : null;
        if (app != null)
        {
            CheckImage(app);
        }

        string? caFile = o.Get("ca-file") is { } ca ? Path.GetFullPath(ca) : null;
        string caName = o.Get("ca") ?? "ca.pem";
        if (caFile != null)
        {
            CheckCertificate(caFile);
        }

        if (caName.Length is 0 or > 64 || caName.Any(c => c is '\\' or '/' or ':' || char.IsControl(c)) || caName is "node.cfg" or "deploy.json" or StateFile or "models")
        {
            throw new UsageException($"--ca '{LogText.Safe(caName)}' must be a plain file name on the node (it goes to I:\\)");
        }

        bool dryRun = o.Has("dry-run");
        string outDir = Path.GetFullPath(o.Get("out") ?? Path.Combine("out", "flash", node));
        string? gatewayDir = o.Get("gateway") is { } g ? Path.GetFullPath(g) : null;
        string? nodesFile = gatewayDir == null ? null : Path.Combine(gatewayDir, "nodes.json");
        string? keysFile = gatewayDir == null ? null : Path.Combine(gatewayDir, "node-keys.json");
        string? gatewayId = o.Get("gateway-id");
        if (gatewayId != null && !RecordNames.IsValidId(gatewayId))
        {
            throw new UsageException($"--gateway-id '{LogText.Safe(gatewayId)}' is not 1-64 letters, digits, '-', '_' or '.'");
        }

        using GatewayClient? gateway = GatewayClient.From(o);

        // Resume or start: an earlier run of this node leaves its identity and finished steps in the output folder.
        FlashState? earlier = FlashState.Read(outDir);
        if (earlier != null && (earlier.Node != node || earlier.Board != board.Name))
        {
            throw new CliException($"{outDir} holds the flash of node {earlier.Node} on {earlier.Board}: give another --out, or finish that one");
        }

        if (earlier == null && Directory.Exists(outDir) && Directory.EnumerateFileSystemEntries(outDir).Any())
        {
            throw new CliException($"--out {outDir} holds files that are not a flash of {node}: give an empty or new folder");
        }

        NodeIdentity id = earlier != null ? NodeIdentity.Read(Path.Combine(outDir, "node.cfg")) : NodeIdentity.Create(node);
        using NodeBook? registry = NodeBook.Open(o, optional: true);
        if (earlier == null)
        {
            // Known anywhere, and not by this run's own identity: a second node must not take over the first one's id.
            if (registry?.Find(node) is { } known)
            {
                throw new CliException($"node {node} is already registered in {registry.Location} ({known.Board}, since {known.Registered:yyyy-MM-dd HH:mm}): revoke it first ('tinymlops nodes revoke {node}') or pick another id");
            }

            if (nodesFile != null && File.Exists(nodesFile) && new NodeRegistry(nodesFile).IsKnown(node))
            {
                throw new CliException($"node {node} already has a login in {nodesFile}: revoke it first ('tinymlops nodes revoke {node}') or pick another id");
            }
        }

        string? nanoff = FindNanoff();
        if (nanoff == null && !dryRun)
        {
            throw new CliException("nanoff is not installed: install it with 'dotnet tool install -g nanoff' and put ~/.dotnet/tools on PATH (or run with --dry-run to see the plan)");
        }

        // Everything the node's storage gets, staged beside the output folder and moved in whole.
        string staging = outDir + ".staging";
        if (Directory.Exists(staging))
        {
            Directory.Delete(staging, recursive: true);
        }

        string? model;
        try
        {
            Directory.CreateDirectory(staging);
            SecretFile.WriteAllText(Path.Combine(staging, "node.cfg"), ProvisionCommand.ConfigText(board, id, o));
            if (caFile != null)
            {
                File.Copy(caFile, Path.Combine(staging, caName));
            }

            model = registry == null ? null : InstallChampion(registry, board, id, staging); // into staging/models, as the node keeps it
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(staging);
            throw new CliException($"cannot write the node's files under {staging}: {e.Message}");
        }
        catch
        {
            TryDelete(staging);
            throw;
        }

        // deploy.json names the files where they will be once staged into the output folder.
        var files = new List<DeployFile> { new(@"I:\node.cfg", Path.Combine(outDir, "node.cfg")) };
        if (caFile != null)
        {
            files.Add(new DeployFile(@"I:\" + caName, Path.Combine(outDir, caName))); // the broker's CA: the node's TLS pin
        }

        string models = Path.Combine(staging, "models");
        if (Directory.Exists(models))
        {
            files.AddRange(Directory.GetFiles(models).Order(StringComparer.Ordinal).Select(f => new DeployFile(@"I:\models\" + Path.GetFileName(f), Path.Combine(outDir, "models", Path.GetFileName(f)))));
        }

        File.WriteAllText(Path.Combine(staging, "deploy.json"), JsonSerializer.Serialize(new DeployPlan(port, files), Json) + "\n");
        var steps = new List<(string Name, string[] Args)> { ("update", ["--update", "--target", target, "--serialport", port]) };
        if (app != null)
        {
            steps.Add(("deploy", ["--deploy", "--image", app, "--serialport", port]));
        }

        steps.Add(("files", ["--filedeployment", Path.Combine(outDir, "deploy.json")]));
        Console.WriteLine($"flash {node}: {board.Name}, nanoff target {target}, port {port}; model: {model ?? "none (no champion in the registry: it gets one over the air)"}");
        if (caFile == null && o.Get("mqtt-tls") != "false")
        {
            Console.WriteLine($"note: TLS is on and no --ca-file was given: the node needs the broker's CA certificate at I:\\{caName} already");
        }

        if (dryRun)
        {
            Console.WriteLine("dry run: nothing is written or run. The plan:");
            Console.WriteLine($"  files for the node, in {outDir}:");
            foreach (DeployFile f in files)
            {
                Console.WriteLine($"    {f.SourceFilePath} -> {f.DestinationFilePath}{(f.DestinationFilePath.EndsWith("node.cfg", StringComparison.Ordinal) ? " (owner-only: the node's key, Wi-Fi and broker password)" : "")}");
            }

            Console.WriteLine($"    {Path.Combine(outDir, "deploy.json")}: {JsonSerializer.Serialize(new DeployPlan(port, files))}");
            foreach ((string name, string[] args) in steps)
            {
                Console.WriteLine($"  {name,-7} nanoff {string.Join(' ', args.Select(Quote))}");
            }

            Console.WriteLine($"  register {node} (key {id.KeyId}): {(registry == null ? "no registry" : $"registry {registry.Location}")}; {(nodesFile == null ? "no gateway folder" : $"gateway {nodesFile} and {keysFile}")}");
            Console.WriteLine($"  wait     {(gateway == null ? "no --gateway-url: the first telemetry is not awaited" : $"up to {o.GetDouble("wait", 120):F0} s for {node}'s first telemetry at {gateway.Url}api/nodes")}");
            Directory.Delete(staging, recursive: true);
            return 0;
        }

        FlashState state = earlier ?? new FlashState(node, board.Name, []);
        try
        {
            // The staged files replace the output folder's (the identity is the same one on a resumed run).
            Directory.CreateDirectory(outDir);
            foreach (string f in Directory.GetFiles(outDir).Where(f => Path.GetFileName(f) != StateFile))
            {
                File.Delete(f);
            }

            if (Directory.Exists(Path.Combine(outDir, "models")))
            {
                Directory.Delete(Path.Combine(outDir, "models"), recursive: true);
            }

            foreach (string f in Directory.GetFiles(staging))
            {
                File.Move(f, Path.Combine(outDir, Path.GetFileName(f)));
            }

            if (Directory.Exists(models))
            {
                Directory.Move(models, Path.Combine(outDir, "models"));
            }

            Directory.Delete(staging, recursive: true);
            state.Save(outDir);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new CliException($"cannot write the node's files to {outDir}: {e.Message}");
        }

        for (int i = 0; i < steps.Count; i++)
        {
            (string name, string[] args) = steps[i];
            if (state.Done.Contains(name))
            {
                Console.WriteLine($"[{i + 1}/{steps.Count + 2}] nanoff {name}: done in an earlier run");
                continue;
            }

            Console.WriteLine($"[{i + 1}/{steps.Count + 2}] nanoff {string.Join(' ', args.Select(Quote))}");
            RunNanoff(nanoff!, name, args);
            state.Done.Add(name);
            state.Save(outDir);
        }

        Console.WriteLine($"[{steps.Count + 1}/{steps.Count + 2}] registering {node} (key {id.KeyId})");
        if (!state.Done.Contains("register"))
        {
            registry?.Register(node, board.Name, board.BoardClass, gatewayId, site, id.KeyId);
            ProvisionCommand.Register(nodesFile, keysFile, board, id);
            if (registry != null)
            {
                Console.WriteLine($"registered {node} in {registry.Location}");
            }

            state.Done.Add("register");
            state.Save(outDir);
        }

        Console.WriteLine($"[{steps.Count + 2}/{steps.Count + 2}] first telemetry");
        if (gateway == null)
        {
            Console.WriteLine($"flashed {node}; no --gateway-url, so its first telemetry was not awaited");
            return 0;
        }

        double wait = o.GetDouble("wait", 120);
        if (WaitForTelemetry(gateway, node, TimeSpan.FromSeconds(wait)) is { } seen)
        {
            Console.WriteLine($"{node} is up: telemetry at {seen.LastSeen:yyyy-MM-dd HH:mm:ss}Z, model {(seen.ModelVersion is long v && v > 0 ? $"{seen.ModelId}.{v}" : "none yet")}, update {seen.UpdateState}");
            return 0;
        }

        throw new CliException($"flashed and registered {node}, but no telemetry reached {gateway.Url} within {wait:F0} s: check the node's power, Wi-Fi and broker address; run the same command again to wait again");
    }

    /// <summary>
    /// Installs the board class's champion (<see cref="NodeBook.Champion"/>) into node storage under
    /// <paramref name="folder"/> (its models/ folder) with the core's update state machine, as the node itself would
    /// take it: under the node's key, digest and the release's golden vectors checked. Returns what was installed, or
    /// null with no champion.
    /// </summary>
    private static string? InstallChampion(NodeBook registry, BoardProfile board, NodeIdentity id, string folder)
    {
        if (registry.Champion(board.BoardClass) is not { } champion)
        {
            return null;
        }

        try
        {
            SimulatedNode.Install(folder, board, id.Node, id.KeyBytes(), champion.Detector, (uint)champion.Sequence, champion.GoldenInputs);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or Firmware.Core.Models.ModelFormatException)
        {
            throw new CliException($"release {champion.Sequence} ({champion.Version}) does not install on a {board.Name}: {e.Message}");
        }

        return $"release {champion.Sequence} ({champion.Version})";
    }

    private static void RunNanoff(string nanoff, string step, string[] args)
    {
        var start = new ProcessStartInfo(nanoff) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = new Process { StartInfo = start };
        string? lastError = null, lastLine = null;
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data != null)
            {
                lastLine = e.Data.Trim().Length > 0 ? e.Data : lastLine;
                Console.WriteLine("  nanoff: " + e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data != null)
            {
                lastError = e.Data.Trim().Length > 0 ? e.Data : lastError;
                Console.WriteLine("  nanoff: " + e.Data);
            }
        };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new CliException($"nanoff ({nanoff}) does not start: {e.Message}");
        }

        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.WaitForExit();
        if (process.ExitCode != 0)
        {
            throw new CliException($"nanoff {step} failed (exit {process.ExitCode}): {LogText.Safe(lastError ?? lastLine ?? "no output")}; fix that and run the same command again: it carries on from this step");
        }
    }

    private static GatewayNodeView? WaitForTelemetry(GatewayClient gateway, string node, TimeSpan patience)
    {
        var clock = Stopwatch.StartNew();
        DateTime nextLine = DateTime.UtcNow;
        string last = "not asked yet";
        while (clock.Elapsed < patience)
        {
            try
            {
                if (gateway.Nodes().FirstOrDefault(n => n.Id == node) is { ModelVersion: not null } seen)
                {
                    return seen;
                }

                last = "the gateway has heard nothing from it yet";
            }
            catch (Exception e) when (e is HttpRequestException or System.Threading.Tasks.TaskCanceledException or JsonException)
            {
                last = $"gateway unreachable ({e.Message})";
            }

            if (DateTime.UtcNow >= nextLine)
            {
                Console.WriteLine($"  waiting for {node}: {last} ({clock.Elapsed.TotalSeconds:F0} of {patience.TotalSeconds:F0} s)");
                nextLine = DateTime.UtcNow.AddSeconds(10);
            }

            Thread.Sleep(1000);
        }

        return null;
    }

    /// <summary>
    /// Refuses what is not a nanoFramework deployment image before nanoff writes it to a node: a deployment image is
    /// the application's assemblies back to back, each starting with the nanoFramework assembly marker.
    /// </summary>
    internal static void CheckImage(string path)
    {
        if (!File.Exists(path))
        {
            throw new UsageException($"--app {path} does not exist");
        }

        long length = new FileInfo(path).Length;
        if (length < 16 || length > MaxImageBytes)
        {
            throw new CliException($"--app {path} is {length} B: a deployment image is 16 B to {MaxImageBytes >> 20} MiB");
        }

        byte[] head = new byte[6];
        using (FileStream s = File.OpenRead(path))
        {
            s.ReadExactly(head);
        }

        if (Encoding.ASCII.GetString(head) is not ("NFMRK1" or "NFMRK2"))
        {
            throw new CliException($"--app {path} is not a nanoFramework deployment image (it does not start with an assembly marker NFMRK1/NFMRK2): build the application's .bin with the nanoFramework toolchain");
        }
    }

    /// <summary>The broker's CA certificate for the node: one PEM certificate, small enough for the node's storage.</summary>
    internal static void CheckCertificate(string path)
    {
        if (!File.Exists(path))
        {
            throw new UsageException($"--ca-file {path} does not exist");
        }

        string pem = new FileInfo(path).Length > 16 * 1024 ? "" : File.ReadAllText(path);
        try
        {
            using var certificate = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(pem);
        }
        catch (Exception e) when (e is System.Security.Cryptography.CryptographicException or ArgumentException)
        {
            throw new CliException($"--ca-file {path} is not a PEM certificate of at most 16 KiB: {e.Message}");
        }
    }

    /// <summary>The nanoff executable on PATH, or in the .NET global tools folder; null when neither has it.</summary>
    internal static string? FindNanoff()
    {
        string[] names = OperatingSystem.IsWindows() ? ["nanoff.exe", "nanoff.cmd", "nanoff"] : ["nanoff"];
        IEnumerable<string> dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Append(Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet", "tools"));
        return dirs.SelectMany(d => names.Select(n => Path.Combine(d, n))).FirstOrDefault(File.Exists);
    }

    internal static Uri HttpUrl(string url, string option) =>
        Uri.TryCreate(url.EndsWith('/') ? url : url + "/", UriKind.Absolute, out Uri? uri) && uri.Scheme is "http" or "https"
            ? uri : throw new UsageException($"{option} {url} is not an http(s) URL");

    private static string Quote(string arg) => arg.Any(char.IsWhiteSpace) ? $"\"{arg}\"" : arg;

    private static void TryDelete(string folder)
    {
        try
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder, recursive: true);
            }
        }
        catch (IOException)
        {
            // Left for the next run, which clears it first.
        }
    }

    /// <summary>nanoff's file deployment: the serial port and each file's place on the node.</summary>
    internal sealed record DeployPlan(
        [property: JsonPropertyName("SerialPort")] string SerialPort,
        [property: JsonPropertyName("Files")] IReadOnlyList<DeployFile> Files);

    /// <summary>One file of <see cref="DeployPlan"/>.</summary>
    internal sealed record DeployFile(
        [property: JsonPropertyName("DestinationFilePath")] string DestinationFilePath,
        [property: JsonPropertyName("SourceFilePath")] string SourceFilePath);

    /// <summary>What a flash of a node has done so far (<see cref="StateFile"/>).</summary>
    internal sealed record FlashState(string Node, string Board, List<string> Done)
    {
        public static FlashState? Read(string outDir)
        {
            string file = Path.Combine(outDir, StateFile);
            if (!File.Exists(file))
            {
                return null;
            }

            try
            {
                FlashState? s = JsonSerializer.Deserialize<FlashState>(File.ReadAllText(file), Json);
                return s is { Node: not null, Board: not null, Done: not null } && File.Exists(Path.Combine(outDir, "node.cfg"))
                    ? s : throw new JsonException("fields missing, or node.cfg gone");
            }
            catch (JsonException e)
            {
                throw new CliException($"{file} is damaged ({e.Message}): remove {outDir} and revoke the node before flashing it again");
            }
        }

        public void Save(string outDir)
        {
            string file = Path.Combine(outDir, StateFile);
            File.WriteAllText(file + ".tmp", JsonSerializer.Serialize(this, Json) + "\n");
            File.Move(file + ".tmp", file, overwrite: true);
        }
    }
}
