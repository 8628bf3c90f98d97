using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using TinyMlops.Cli;
using TinyMlops.Firmware.Core.Models;
using Xunit;

namespace TinyMlops.Tools.Tests;

/// <summary>Tests that swap Console.Out and Console.Error (process-wide) run one at a time.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ConsoleCollection
{
    public const string Name = "console";
}

[Collection(ConsoleCollection.Name)]
public class CliTests
{
    [Fact]
    public void Detect_trains_quantises_and_runs_the_firmware_core_over_held_out_recordings()
    {
        string dir = Path.Combine(Path.GetTempPath(), "tinymlops-detect-" + Guid.NewGuid().ToString("N"));
        try
        {
            Assert.Equal(0, Program.Main(new[] { "detect", "--board", "esp32-c3", "--out", dir }));
            using JsonDocument summary = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "detect-summary.json")));
            JsonElement[] detectors = summary.RootElement.GetProperty("detectors").EnumerateArray().ToArray();
            Assert.Equal(2, detectors.Length);
            foreach (JsonElement d in detectors)
            {
                Assert.Equal(3, d.GetProperty("conditions").GetArrayLength());
                Assert.True(d.GetProperty("agreement").GetDouble() > 0.95, "int8 and float decisions must mostly agree");
                byte[] blob = File.ReadAllBytes(Path.Combine(dir, d.GetProperty("name").GetString() + ".tmlm"));
                Assert.Equal(3, Int8Model.Load(blob, 3, 0).Header.BoardClass); // built for the ESP32-C3 class
            }
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    private static (int Exit, string Errors, string Output) Run(params string[] args) => Cli.Run(args);

    [Fact]
    public void Parse_errors_are_one_line_with_exit_2_and_unknown_options_get_a_suggestion()
    {
        (int exit, string errors, _) = Run("detect", "--bord", "esp32-c3");
        Assert.Equal(2, exit);
        Assert.Contains("unknown option '--bord' (did you mean --board?)", errors);
        foreach (string[] args in new[]
        {
            new[] { "train", "--uci-rate", "abc", "--data", "x" },
            new[] { "train" },                               // no silent default for the data a model is trained on
            new[] { "train", "--data", "x", "--seed", "-1" },
            new[] { "train", "--data", "x", "--cv", "folds" },
            new[] { "bench-interp", "--ms", "0" },
            new[] { "gateways", "ad", "gw-1" },
        })
        {
            (exit, errors, _) = Run(args);
            Assert.Equal(2, exit);
            Assert.Single(errors.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("error: ", errors);
        }

        Assert.Empty(Commands.Build().Parse(new[] { "train", "--data", "x", "--seed", "0" }).Errors); // seed 0 is a seed
        (exit, _, string help) = Run("train", "--help");
        Assert.Equal(0, exit);
        Assert.Contains("--uci-rate", help);
        Assert.Contains("--data", help);
    }

    [Fact]
    public void Bad_data_is_one_line_naming_the_file_and_line_with_exit_1()
    {
        string dir = Path.Combine(Path.GetTempPath(), "tinymlops-bad-adi-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            string good = string.Join("\n", Enumerable.Range(0, 50).Select(i => $"{i * 0.00005:R};2.5;2.5;2.6")) + "\n";
            File.WriteAllText(Path.Combine(dir, "1000_GoB_GS_BaLo_WA_00lb.Wfm.csv"), good);
            File.WriteAllText(Path.Combine(dir, "1000_LIR_GS_BaLo_WA_00lb.Wfm.csv"), good + "0.1;2.5;oops;2.6\n");
            // eval reads recordings through the same loader (after its model folder).
            foreach (string[] args in new[] { new[] { "train", "--data", dir, "--out", Path.Combine(dir, "out") } })
            {
                (int exit, string errors, _) = Run(args);
                Assert.Equal(1, exit);
                string error = Assert.Single(errors.Split('\n'), l => l.StartsWith("error: ", StringComparison.Ordinal));
                Assert.Contains("1000_LIR_GS_BaLo_WA_00lb.Wfm.csv:51", error);
                Assert.DoesNotContain("   at ", errors);
            }

            (int code, string message, _) = Run("train", "--data", Path.Combine(dir, "1000_GoB_GS_BaLo_WA_00lb.Wfm.csv"));
            Assert.Equal(1, code);
            Assert.Contains("is a file", message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Unknown_commands_boards_and_options_exit_with_usage_errors()
    {
        Assert.Equal(2, Program.Main(new[] { "frobnicate" }));
        Assert.Equal(1, Program.Main(new[] { "detect", "--board", "esp8266" }));
        Assert.Equal(2, Program.Main(new[] { "detect", "--board", "rpi4" }));
        Assert.Equal(2, Program.Main(new[] { "bench", "--iterations", "-3" }));
        Assert.Equal(2, Program.Main(new[] { "detect", "--board" }));
    }

    [Fact]
    public void Release_keys_are_created_apart_rotated_with_the_root_key_and_never_printed()
    {
        string dir = Path.Combine(Path.GetTempPath(), "tinymlops-keys-" + Guid.NewGuid().ToString("N"));
        string keys = Path.Combine(dir, "keys"), offline = Path.Combine(dir, "offline");
        try
        {
            Assert.Equal(2, Run("keys", "create", "--vendor", "acme", "--root-dir", keys, "--dir", keys).Exit); // root beside the signing key
            Assert.Equal(2, Run("keys", "create", "--vendor", "acme", "--root-dir", offline, "--dir", keys, "--days", "0").Exit);
            Assert.Equal(1, Run("keys", "show", "--dir", keys).Exit); // nothing there yet

            (int exit, string errors, string created) = Run("keys", "create", "--vendor", "acme", "--root-dir", offline, "--dir", keys, "--days", "30");
            Assert.True(exit == 0, errors);
            Assert.Contains("certificate 1", created);
            string[] privateKeys = Directory.GetFiles(dir, "*.key", SearchOption.AllDirectories);
            Assert.Equal(2, privateKeys.Length); // the root key offline, the signing key in the key folder
            Assert.Contains(Path.Combine(offline, Releases.KeyStore.RootKeyFile), privateKeys);
            foreach (string key in privateKeys)
            {
                string pem = File.ReadAllText(key);
                Assert.Contains("PRIVATE KEY", pem);
                Assert.DoesNotContain(Body(pem), created);
                if (!OperatingSystem.IsWindows())
                {
                    Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(key));
                }
            }

            Assert.Equal(1, Run("keys", "create", "--vendor", "acme", "--root-dir", offline, "--dir", keys).Exit); // never over existing keys
            (exit, errors, string rotated) = Run("keys", "rotate", "--root-key", Path.Combine(offline, Releases.KeyStore.RootKeyFile), "--dir", keys);
            Assert.True(exit == 0, errors);
            Assert.Contains("certificate 2", rotated);
            Assert.Equal(2, Directory.GetFiles(dir, "*.key", SearchOption.AllDirectories).Length); // the old signing key is gone
            (exit, _, string shown) = Run("keys", "show", "--dir", keys);
            Assert.Equal(0, exit);
            Assert.Contains("certificate 2", shown);
            Assert.Contains("acme", shown);

            // A "root key" that is not the root that certified the folder is refused with a one-line error.
            string stranger = Path.Combine(dir, "stranger");
            Assert.Equal(0, Run("keys", "create", "--vendor", "acme", "--root-dir", stranger, "--dir", Path.Combine(dir, "other")).Exit);
            (exit, errors, _) = Run("keys", "rotate", "--root-key", Path.Combine(stranger, Releases.KeyStore.RootKeyFile), "--dir", keys);
            Assert.Equal(1, exit);
            Assert.Single(errors.Trim().Split('\n'));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }

        static string Body(string pem) => pem.Split('\n')[1].Trim();
    }
}

[Collection(ConsoleCollection.Name)] // one test swaps Console.Out
public class ProvisionTests
{
    [Theory]
    [InlineData("esp32-wroom-32", "mpu6050")]
    [InlineData("esp32-wrover", "adxl345")]
    public void Provisioning_file_is_what_the_firmware_parses(string board, string sensor)
    {
        string dir = Path.Combine(Path.GetTempPath(), "tinymlops-provision-" + Guid.NewGuid().ToString("N"));
        try
        {
            Assert.Equal(0, Program.Main(new[] { "provision", "--board", board, "--node", "line1-pump3", "--wifi-ssid", "plant", "--mqtt-host", "gw-line1.local", "--out", dir }));
            Firmware.Core.Node.NodeConfig c = Firmware.Core.Node.NodeConfig.Parse(File.ReadAllText(Path.Combine(dir, "node.cfg")));
            Boards.BoardProfile p = Boards.BoardProfile.Load(board);
            Assert.Equal(("line1-pump3", sensor, p.Sampling!.SampleRateHz, p.Memory.ModelFlashBytes), (c.NodeId, c.Sensor, c.SampleRateHz, c.ModelFlashBytes));
            Assert.Equal(32, c.NodeKey.Length);

            // It holds the node's key and passwords: owner-only, and none of them printed.
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, "node.cfg")));
            }
        }
        finally
        {
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    [Fact]
    public void Provisioning_refuses_gateways_bad_ids_and_short_keys()
    {
        Assert.Equal(2, Program.Main(new[] { "provision", "--board", "rpi4", "--node", "n1", "--wifi-ssid", "s", "--mqtt-host", "h" }));
        Assert.Equal(2, Program.Main(new[] { "provision", "--board", "esp32-s3", "--node", "a/b", "--wifi-ssid", "s", "--mqtt-host", "h" }));
        Assert.Equal(2, Program.Main(new[] { "provision", "--board", "esp32-s3", "--node", "n1", "--wifi-ssid", "s", "--mqtt-host", "h", "--key", "0011" }));
        Assert.Equal(2, Program.Main(new[] { "provision", "--board", "esp32-s3", "--node", "n1" }));
        foreach (string reserved in new[] { "tinymlops-gateway", "gateway", "Gateway-7" })
        {
            Assert.Equal(2, Program.Main(new[] { "provision", "--board", "esp32-s3", "--node", reserved, "--wifi-ssid", "s", "--mqtt-host", "h", "--out", Path.GetTempPath() }));
        }
    }

    [Fact]
    public void Provisioning_registers_the_update_key_with_the_gateway_that_relays_releases()
    {
        string dir = Path.Combine(Path.GetTempPath(), "tinymlops-provision-keys-" + Guid.NewGuid().ToString("N"));
        string keys = Path.Combine(dir, "node-keys.json");
        try
        {
            Assert.Equal(0, Program.Main(new[] { "provision", "--board", "esp32-s3", "--node", "line2-fan1", "--wifi-ssid", "plant", "--mqtt-host", "gw", "--out", Path.Combine(dir, "n1"), "--gateway-keys", keys }));
            Assert.Equal(0, Program.Main(new[] { "provision", "--board", "esp32-c3", "--node", "line2-fan2", "--wifi-ssid", "plant", "--mqtt-host", "gw", "--out", Path.Combine(dir, "n2"), "--gateway-keys", keys }));
            string cfgKey = File.ReadAllLines(Path.Combine(dir, "n1", "node.cfg")).Single(l => l.StartsWith("node.key=", StringComparison.Ordinal))["node.key=".Length..];
            var registered = new Contracts.NodeKeys(keys).All;
            Assert.Equal(cfgKey, Convert.ToHexStringLower(registered["line2-fan1"].Key));
            Assert.Equal((2, 3), (registered["line2-fan1"].BoardClass, registered["line2-fan2"].BoardClass));
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keys));
                File.SetUnixFileMode(keys, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
                Assert.Throws<InvalidDataException>(() => new Contracts.NodeKeys(keys).All); // others could read the keys
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void A_gateway_credential_is_written_owner_only_and_never_printed()
    {
        string dir = Path.Combine(Path.GetTempPath(), "tinymlops-gateways-" + Guid.NewGuid().ToString("N"));
        string file = Path.Combine(dir, "gw-1.credential");
        var printed = new StringWriter();
        TextWriter original = Console.Out;
        Console.SetOut(printed);
        try
        {
            Assert.Equal(0, Program.Main(new[] { "gateways", "add", "gw-1", "--store", dir, "--out", file }));
        }
        finally
        {
            Console.SetOut(original);
        }

        try
        {
            string token = File.ReadAllText(file).Trim();
            Assert.True(token.Length >= 40);
            Assert.DoesNotContain(token, printed.ToString());
            Assert.DoesNotContain(token, File.ReadAllText(Path.Combine(dir, "gateways.json")));
            Assert.Equal("gw-1", new Ingestion.GatewayCredentials(Path.Combine(dir, "gateways.json")).Authenticate("Bearer gw-1." + token));
            if (!OperatingSystem.IsWindows())
            {
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            }

            Assert.Equal(0, Program.Main(new[] { "gateways", "revoke", "gw-1", "--store", dir }));
            Assert.Null(new Ingestion.GatewayCredentials(Path.Combine(dir, "gateways.json")).Authenticate("Bearer gw-1." + token));
            Assert.Equal(2, Program.Main(new[] { "gateways", "add", "bad/id", "--store", dir, "--out", file }));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
