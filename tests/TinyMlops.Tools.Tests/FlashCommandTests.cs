using System;
using System.IO;
using System.Linq;
using System.Text;
using System.Text.Json;
using TinyMlops.Boards;
using TinyMlops.Cli;
using TinyMlops.Contracts;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Firmware.Core.Updates;
using TinyMlops.Registry;
using TinyMlops.Tests.Common;
using Xunit;

namespace TinyMlops.Tools.Tests;

/// <summary>
/// <c>tinymlops flash</c>, <c>provision --batch</c> and <c>nodes</c> as a technician runs them, against a stand-in
/// <c>nanoff</c> placed first on PATH that records its arguments and the deploy.json it was given, and can be told to
/// fail one step the way nanoff does (an error line and a non-zero exit).
/// </summary>
[Collection(ConsoleCollection.Name)]
public sealed class FlashCommandTests : IDisposable
{
    private const string Board = "esp32-wroom-32";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "tinymlops-flash-" + Guid.NewGuid().ToString("N"));
    private readonly string _bin, _log, _registry, _gateway, _app;
    private readonly string? _path = Environment.GetEnvironmentVariable("PATH");

    public FlashCommandTests()
    {
        _bin = Path.Combine(_dir, "bin");
        _log = Path.Combine(_dir, "nanoff.log");
        _registry = Path.Combine(_dir, "registry");
        _gateway = Path.Combine(_dir, "gateway");
        _app = Path.Combine(_dir, "app.bin");
        Directory.CreateDirectory(_bin);
        Directory.CreateDirectory(_gateway);
        File.WriteAllBytes(_app, [.. Encoding.ASCII.GetBytes("NFMRK1"), .. new byte[250]]);
        Environment.SetEnvironmentVariable("NANOFF_LOG", _log);
        Environment.SetEnvironmentVariable("NANOFF_FAIL", null);
    }

    public void Dispose()
    {
        Environment.SetEnvironmentVariable("PATH", _path);
        Environment.SetEnvironmentVariable("NANOFF_LOG", null);
        Environment.SetEnvironmentVariable("NANOFF_FAIL", null);
        Directory.Delete(_dir, recursive: true);
    }

    [Fact]
    public void A_node_is_flashed_step_by_step_registered_only_when_nanoff_succeeded_and_a_rerun_after_a_failure_finishes_the_job()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // the stand-in nanoff is a shell script
        }

        StandInNanoff();
        long sequence = RegistryWithChampion();
        string outDir = Path.Combine(_dir, "out", "pump-7");
        string[] flash = Flash("pump-7", outDir, "--app", _app, "--ca-file", Certificate());

        // nanoff fails its file deployment: its own error is shown, and nothing is registered anywhere.
        Environment.SetEnvironmentVariable("NANOFF_FAIL", "--filedeployment");
        (int exit, string errors, string output) = Cli.Run(flash);
        Assert.Equal(1, exit);
        Assert.Contains("nanoff files failed (exit 2): E2002: device not responding", errors);
        Assert.Contains("run the same command again", errors);
        Assert.Contains("nanoff: E2002: device not responding", output); // streamed as it came
        Assert.Empty(Registry().Nodes("pump-7"));
        Assert.False(File.Exists(Path.Combine(_gateway, "nodes.json")));
        Assert.False(File.Exists(Path.Combine(_gateway, "node-keys.json")));
        NodeIdentity first = NodeIdentity.Read(Path.Combine(outDir, "node.cfg"));

        // Fixed: the same command carries on from the failed step, with the same identity.
        Environment.SetEnvironmentVariable("NANOFF_FAIL", null);
        (exit, errors, output) = Cli.Run(flash);
        Assert.True(exit == 0, errors + output);
        Assert.Contains("nanoff update: done in an earlier run", output);
        string[] calls = File.ReadAllLines(_log);
        Assert.Equal(
        [
            "--update --target ESP32_REV3 --serialport /dev/ttyUSB0",
            $"--deploy --image {_app} --serialport /dev/ttyUSB0",
            $"--filedeployment {Path.Combine(outDir, "deploy.json")}",
            $"--filedeployment {Path.Combine(outDir, "deploy.json")}",
        ], calls);
        NodeIdentity id = NodeIdentity.Read(Path.Combine(outDir, "node.cfg"));
        Assert.Equal(first, id);
        Assert.DoesNotContain(id.Key, output + errors); // secrets go to owner-only files, never the screen
        Assert.DoesNotContain(id.MqttPassword, output + errors);
        Assert.False(SecretFile.IsExposed(Path.Combine(outDir, "node.cfg")));

        // The config the node boots with, read by the firmware's own parser.
        NodeConfig config = NodeConfig.Parse(File.ReadAllText(Path.Combine(outDir, "node.cfg")));
        BoardProfile board = BoardProfile.Load(Board);
        Assert.Equal("pump-7", config.NodeId);
        Assert.Equal("gw.line1", config.MqttHost);
        Assert.Equal(board.Sampling!.SampleRateHz, config.SampleRateHz);
        Assert.Equal(board.BoardClass, config.BoardClass);

        // deploy.json as nanoff reads it, each file under I:\ and present; the staged storage boots the champion.
        using (JsonDocument deploy = JsonDocument.Parse(File.ReadAllText(Path.Combine(_dir, "deploy.json"))))
        {
            Assert.Equal("/dev/ttyUSB0", deploy.RootElement.GetProperty("SerialPort").GetString());
            JsonElement[] files = deploy.RootElement.GetProperty("Files").EnumerateArray().ToArray();
            Assert.Contains(files, f => f.GetProperty("DestinationFilePath").GetString() == @"I:\node.cfg");
            Assert.Contains(files, f => f.GetProperty("DestinationFilePath").GetString() == @"I:\ca.pem" && File.ReadAllText(f.GetProperty("SourceFilePath").GetString()!) == File.ReadAllText(Certificate()));
            Assert.Contains(files, f => f.GetProperty("DestinationFilePath").GetString()!.StartsWith(@"I:\models\", StringComparison.Ordinal));
            Assert.All(files, f => Assert.True(File.Exists(f.GetProperty("SourceFilePath").GetString()), f.ToString()));
        }

        var node = new ModelUpdater(new FileModelStorage(Path.Combine(outDir, "models")), id.KeyBytes(), "pump-7", board.BoardClass, board.Memory.ModelFlashBytes, board.Memory.ModelRamBytes);
        node.Boot();
        Assert.NotNull(node.ActiveModel);
        Assert.Equal((uint)sequence, node.InstalledSequence);

        // Registered everywhere under the identity it was flashed with.
        RegisteredNode registered = Registry().Nodes("pump-7").Single();
        Assert.Equal((Board, "line-1", "hall B", id.KeyId), (registered.Board, registered.Gateway, registered.Site, registered.KeyId));
        Assert.True(new NodeRegistry(Path.Combine(_gateway, "nodes.json")).Verify("pump-7", id.MqttPassword));
        Assert.Equal(id.KeyBytes(), new NodeKeys(Path.Combine(_gateway, "node-keys.json")).All["pump-7"].Key);

        // A second node may not take the id, and the listing shows the first.
        (exit, errors, _) = Cli.Run(Flash("pump-7", Path.Combine(_dir, "out", "other")));
        Assert.Equal(1, exit);
        Assert.Contains("node pump-7 is already registered", errors);
        (exit, _, output) = Cli.Run("nodes", "--registry", _registry);
        Assert.Equal(0, exit);
        Assert.Contains("pump-7", output);
        Assert.Contains("hall B", output);

        // Revoked: gone from the registry, the gateway's logins and its keys; the id can then be flashed again.
        (exit, errors, output) = Cli.Run("nodes", "revoke", "pump-7", "--registry", _registry, "--gateway", _gateway);
        Assert.True(exit == 0, errors);
        Assert.Empty(Registry().Nodes("pump-7"));
        Assert.False(new NodeRegistry(Path.Combine(_gateway, "nodes.json")).IsKnown("pump-7"));
        Assert.False(new NodeKeys(Path.Combine(_gateway, "node-keys.json")).All.ContainsKey("pump-7"));
        (exit, errors, _) = Cli.Run("nodes", "revoke", "pump-7", "--registry", _registry, "--gateway", _gateway);
        Assert.Equal(1, exit);
        Assert.Contains("not registered", errors);
        // Flashed and registered, but the gateway never hears from it: said, and the job is not called done.
        string token = Path.Combine(_dir, "gateway.token");
        SecretFile.WriteAllText(token, "operator-token");
        int closed;
        using (var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0))
        {
            l.Start();
            closed = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        }

        (exit, errors, output) = Cli.Run(Flash("pump-7", Path.Combine(_dir, "out", "again"), "--gateway-url", $"http://127.0.0.1:{closed}/", "--gateway-token-file", token, "--wait", "2"));
        Assert.Equal(1, exit);
        Assert.Contains("flashed and registered pump-7, but no telemetry reached", errors);
        Assert.Contains("gateway unreachable", output);
        Assert.Single(Registry().Nodes("pump-7"));
    }

    [Fact]
    public void The_dry_run_prints_the_whole_plan_and_bad_input_is_refused_with_nothing_written()
    {
        RegistryWithChampion();
        Environment.SetEnvironmentVariable("PATH", _bin); // no nanoff here
        string outDir = Path.Combine(_dir, "out", "fan-1");

        (int exit, string errors, string output) = Cli.Run([.. Flash("fan-1", outDir, "--app", _app), "--dry-run"]);
        Assert.True(exit == 0, errors);
        Assert.Contains("nanoff --update --target ESP32_REV3 --serialport /dev/ttyUSB0", output);
        Assert.Contains($"nanoff --deploy --image {_app} --serialport /dev/ttyUSB0", output);
        Assert.Contains($"nanoff --filedeployment {Path.Combine(outDir, "deploy.json")}", output);
        Assert.Contains(@"-> I:\node.cfg", output);
        Assert.Contains(@"-> I:\models\", output);
        Assert.Contains("\"SerialPort\":\"/dev/ttyUSB0\"", output);
        Assert.Contains("release 1 (", output);
        Assert.False(Directory.Exists(outDir));
        Assert.False(Directory.Exists(outDir + ".staging"));

        // nanoff missing: said, with how to install it, before anything is written or registered.
        (exit, errors, _) = Cli.Run(Flash("fan-1", outDir));
        Assert.Equal(1, exit);
        Assert.Contains("dotnet tool install -g nanoff", errors);
        Assert.Empty(Registry().Nodes());

        // With nanoff there, each of these is refused before nanoff runs or anything is registered.
        if (OperatingSystem.IsLinux())
        {
            StandInNanoff();
        }

        foreach ((string[] args, int code, string message) in new[]
        {
            (Flash("fan-1", outDir).Select(a => a == Board ? "esp32-nonesuch" : a).ToArray(), 1, "esp32-nonesuch"),
            (Flash("fan-1", outDir).Where(a => a is not ("--port" or "/dev/ttyUSB0")).ToArray(), 2, "--port"),
            (Flash("gateway-2", outDir), 2, "reserved"),
            (Flash("bad id", outDir), 2, "must be 1-64"),
            (Flash("fan-1", outDir, "--app", Path.Combine(_dir, "missing.bin")), 2, "does not exist"),
            (Flash("fan-1", outDir, "--app", WriteFile("notes.txt", "hello, this is not an image")), 1, "not a nanoFramework deployment image"),
            (Flash("fan-1", Path.Combine(_app, "under-a-file")), 1, "cannot write the node's files"),
            (Flash("fan-1", outDir, "--ca-file", WriteFile("ca.txt", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")), 1, "is not a PEM certificate"),
            (Flash("fan-1", outDir, "--ca", "../ca.pem"), 2, "plain file name"),
        })
        {
            (exit, errors, _) = Cli.Run(args);
            Assert.True(exit == code, $"{string.Join(' ', args)}: exit {exit}, {errors}");
            Assert.Contains(message, errors);
        }

        Assert.Empty(Registry().Nodes());
        Assert.False(File.Exists(Path.Combine(_gateway, "nodes.json")));
        Assert.False(File.Exists(_log)); // nanoff never ran

        // A batch: every id checked first, so a bad row writes nothing; a good file provisions each node.
        string batchOut = Path.Combine(_dir, "batch");
        string[] provision = ["provision", "--board", Board, "--wifi-ssid", "plant", "--mqtt-host", "gw.line1", "--out", batchOut, "--gateway-nodes", Path.Combine(_gateway, "nodes.json"), "--gateway-keys", Path.Combine(_gateway, "node-keys.json"), "--batch"];
        (exit, errors, _) = Cli.Run([.. provision, WriteFile("dup.csv", "node,site\nfan-1,a\nfan-2,b\nfan-1,c\n")]);
        Assert.Equal(1, exit);
        Assert.Contains("line 4: node fan-1 is listed twice", errors);
        Assert.False(Directory.Exists(batchOut));
        (exit, errors, _) = Cli.Run([.. provision, WriteFile("ok.csv", "node,site\nfan-1,a\nfan-2,b\n")]);
        Assert.True(exit == 0, errors);
        Assert.Equal("fan-2", NodeConfig.Parse(File.ReadAllText(Path.Combine(batchOut, "fan-2", "node.cfg"))).NodeId);
        Assert.NotEqual(NodeIdentity.Read(Path.Combine(batchOut, "fan-1", "node.cfg")).Key, NodeIdentity.Read(Path.Combine(batchOut, "fan-2", "node.cfg")).Key);
        Assert.True(new NodeRegistry(Path.Combine(_gateway, "nodes.json")).IsKnown("fan-2"));
        (exit, errors, _) = Cli.Run([.. provision, WriteFile("again.csv", "node\nfan-3\nfan-2\n")]);
        Assert.Equal(1, exit);
        Assert.Contains("node fan-2 is already registered", errors);
        Assert.False(Directory.Exists(Path.Combine(batchOut, "fan-3")));
    }

    private string[] Flash(string node, string outDir, params string[] more) =>
    [
        "flash", "--board", Board, "--port", "/dev/ttyUSB0", "--node", node, "--site", "hall B", "--wifi-ssid", "plant", "--wifi-password", "secret wifi",
        "--mqtt-host", "gw.line1", "--registry", _registry, "--gateway", _gateway, "--gateway-id", "line-1", "--out", outDir, .. more,
    ];

    // The broker's CA as a PEM file (a self-signed certificate made for the test).
    private string Certificate()
    {
        string path = Path.Combine(_dir, "broker-ca.pem");
        if (!File.Exists(path))
        {
            using var key = System.Security.Cryptography.ECDsa.Create();
            var request = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=line-1 broker CA", key, System.Security.Cryptography.HashAlgorithmName.SHA256);
            using var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow, DateTimeOffset.UtcNow.AddYears(1));
            File.WriteAllText(path, ca.ExportCertificatePem());
        }

        return path;
    }

    private string WriteFile(string name, string text)
    {
        string path = Path.Combine(_dir, name);
        File.WriteAllText(path, text);
        return path;
    }

    private ModelRegistry Registry() => ModelRegistry.Open(_registry);

    // nanoff as the test needs it: records each call, keeps the deploy.json it is given, fails the step named in NANOFF_FAIL.
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    private void StandInNanoff()
    {
        string script = Path.Combine(_bin, "nanoff");
        File.WriteAllText(script, """
            #!/bin/sh
            echo "$*" >> "$NANOFF_LOG"
            if [ "$1" = "--filedeployment" ]; then cp "$2" "$(dirname "$NANOFF_LOG")/deploy.json"; fi
            if [ -n "$NANOFF_FAIL" ] && [ "$1" = "$NANOFF_FAIL" ]; then echo "E2002: device not responding" >&2; exit 2; fi
            echo "nanoff stand-in: $1 OK"
            """.Replace("\r", ""));
        File.SetUnixFileMode(script, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        Environment.SetEnvironmentVariable("PATH", _bin + Path.PathSeparator + _path);
    }

    private long RegistryWithChampion() => ChampionRegistry.Create(_dir, _registry);
}

/// <summary>Runs the command line in this process and captures what it printed.</summary>
internal static class Cli
{
    public static (int Exit, string Errors, string Output) Run(params string[] args)
    {
        var errors = new StringWriter();
        var output = new StringWriter();
        TextWriter oldError = Console.Error, oldOut = Console.Out;
        Console.SetError(errors);
        Console.SetOut(output);
        try
        {
            return (Program.Main(args), errors.ToString(), output.ToString());
        }
        finally
        {
            Console.SetError(oldError);
            Console.SetOut(oldOut);
        }
    }
}
