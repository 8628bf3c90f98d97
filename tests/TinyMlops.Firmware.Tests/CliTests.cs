using System;
using System.IO;
using System.Linq;
using System.Text.Json;
using TinyMlops.Cli;
using TinyMlops.Firmware.Core.Models;
using Xunit;

namespace TinyMlops.Firmware.Tests;

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

    [Fact]
    public void Unknown_commands_boards_and_options_exit_with_usage_errors()
    {
        Assert.Equal(2, Program.Main(new[] { "frobnicate" }));
        Assert.Equal(1, Program.Main(new[] { "detect", "--board", "esp8266" }));
        Assert.Equal(2, Program.Main(new[] { "detect", "--board", "rpi4" }));
        Assert.Equal(2, Program.Main(new[] { "bench", "--iterations", "-3" }));
        Assert.Equal(2, Program.Main(new[] { "detect", "--board" }));
    }
}

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
            Assert.Equal(2, Program.Main(new[] { "gateways", "add", "bad/id", "--store", dir }));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
