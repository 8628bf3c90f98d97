using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Threading.Tasks;
using System;
using Microsoft.Extensions.DependencyInjection;
using TinyMlops.Boards;
using TinyMlops.Contracts;
using TinyMlops.Firmware.Core.Common;
using TinyMlops.Firmware.Core.Models;
using TinyMlops.Firmware.Core.Updates;
using TinyMlops.Gateway.Configuration;
using TinyMlops.Gateway.LocalNode;
using TinyMlops.Gateway.Storage;
using TinyMlops.Tests.Shared;
using Xunit.Abstractions;
using TinyMlops.TestBed;
using Xunit;

namespace TinyMlops.Gateway.Tests;

/// <summary>The gateway's own wired sensor: dotnet/iot's bindings over simulated buses, and the device's controller in the gateway.</summary>
public class LocalNodeTests(ITestOutputHelper output)
{
    private static readonly BoardProfile Pi = BoardProfile.Load("rpi4");

    [Theory]
    [InlineData("adxl345")]
    [InlineData("mpu6050")]
    public void The_bindings_read_g_from_the_bus_the_board_profile_names(string sensor)
    {
        var buses = new SimulatedSensorBuses(() => (0.5f, -0.25f, 1.0f));
        using BindingAccelerometer a = BindingAccelerometer.Open(Pi, sensor, 8, buses);
        var xyz = new float[3];
        Assert.True(a.TryRead(xyz));
        Assert.Equal(new[] { 0.5f, -0.25f, 1.0f }, xyz.Select(v => MathF.Round(v, 4)).ToArray());
        if (sensor == "adxl345")
        {
            Assert.Equal(64, buses.Adxl345!.CountsPerG); // ±8 g in the binding's 10-bit mode
            Assert.Equal(Pi.SensorBuses["adxl345"].Bus, buses.Adxl345.ConnectionSettings.BusId);
            Assert.Equal(System.Device.Spi.SpiMode.Mode3, buses.Adxl345.ConnectionSettings.Mode);
        }
        else
        {
            Assert.Equal(4096, buses.Mpu6050!.CountsPerG); // ±8 g
            Assert.Equal(Pi.SensorBuses["mpu6050"].Address, buses.Mpu6050.ConnectionSettings.DeviceAddress);
        }
    }

    [Theory]
    [InlineData("adxl345")]
    [InlineData("mpu6050")]
    public void A_failed_bus_transfer_is_a_failed_read_not_an_exception(string sensor)
    {
        var buses = new SimulatedSensorBuses(() => (0f, 0f, 1f));
        using BindingAccelerometer a = BindingAccelerometer.Open(Pi, sensor, 8, buses);
        if (buses.Adxl345 != null)
        {
            buses.Adxl345.Broken = true;
        }
        else
        {
            buses.Mpu6050!.Broken = true;
        }

        Assert.False(a.TryRead(new float[3]));
        Assert.Equal(1, a.FailedReads);
        Assert.Throws<InvalidDataException>(() => BindingAccelerometer.Open(BoardProfile.Load("esp32-wroom-32"), sensor, 8, buses));
    }

    /// <summary>
    /// The gateway runs the firmware core's controller for its own ADXL345 (simulated SPI, replaying the shipped fan
    /// recording at the Pi profile's 1.6 kHz) as node "line1-pump3": it logs in with its own password, and its
    /// suspicious windows arrive as events that the gateway stores and acknowledges.
    /// </summary>
    [Fact]
    public async Task The_gateway_runs_its_own_sensor_through_the_devices_controller()
    {
        string dir = Harness.Temp("gateway-local");
        RunningGateway.Prepare(dir);
        File.WriteAllBytes(Path.Combine(dir, "verifier.onnx"), Harness.Verifier(1, features: 3 * (4 + Pi.Sampling!.Bands))); // the Pi profile's feature vector
        var passwords = new Dictionary<string, string>(Harness.Passwords) { [UpdateCases.NodeId] = "local-secret" };
        NodeRegistry.Write(Path.Combine(dir, "nodes.json"), passwords, iterations: 1000);
        Contracts.SecretFile.WriteAllText(Path.Combine(dir, "local.password"), "local-secret\n");
        Contracts.SecretFile.WriteAllText(Path.Combine(dir, "local.key"), Convert.ToHexString(UpdateCases.NodeKey) + "\n");

        // A detector that calls every window suspicious, installed through the update state machine as provisioning does.
        SimulatedNode.Install(Path.Combine(dir, "local-node"), Pi, UpdateCases.NodeId, UpdateCases.NodeKey, Recordings.EveryWindowSuspicious(Checkout.FindRoot()), 1);

        (float[] x, float[] y, float[] z) = Recordings.Fan(Checkout.FindRoot());
        int next = 0;
        var buses = new SimulatedSensorBuses(() => { int i = next++ % x.Length; return (x[i], y[i], z[i]); });

        await using RunningGateway g = await RunningGateway.Start(
            tweak: s =>
            {
                s["Gateway:LocalNode:Enabled"] = "true";
                s["Gateway:LocalNode:NodeId"] = UpdateCases.NodeId;
                s["Gateway:LocalNode:Sensor"] = "adxl345";
                s["Gateway:LocalNode:PasswordFile"] = Path.Combine(dir, "local.password");
                s["Gateway:LocalNode:KeyFile"] = Path.Combine(dir, "local.key");
                s["Gateway:LocalNode:TelemetrySeconds"] = "5";
            },
            dataDirectory: dir,
            services: sc => sc.AddSingleton<ISensorBuses>(buses));

        LocalNodeService local = g.Get<LocalNodeService>();
        await Harness.Eventually(() => Task.FromResult(local.Runner?.Controller.EventsAcknowledged ?? 0), n => n >= 2, "two events from the local node acknowledged", 30);
        GatewayStore store = g.Get<GatewayStore>();
        Assert.True(store.NodesLastSeen().ContainsKey(UpdateCases.NodeId));
        Assert.True(store.DetailedCounts().Events >= 2);
        await Harness.Eventually(() => Task.FromResult(local.Runner!.Controller.VerdictsReceived), n => n >= 1, "a verdict back at the local node");
        Firmware.Core.Node.NodeController c = local.Runner!.Controller;
        output.WriteLine($"samples {buses.Adxl345!.Samples}, windows {c.Pipeline.Windows}, events sent {c.EventsSent}, acknowledged {c.EventsAcknowledged}, overruns {c.Capture.Overruns}");
        Assert.True(buses.Adxl345.Samples >= 2 * Pi.Sampling!.WindowLength);
        Assert.Equal(0u, c.Capture.Overruns);
    }
}
