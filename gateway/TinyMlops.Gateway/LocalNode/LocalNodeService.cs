using System.IO;
using System.Threading.Tasks;
using System.Threading;
using System;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyMlops.Boards;
using TinyMlops.Contracts;
using TinyMlops.Firmware.Core.Node;
using TinyMlops.Firmware.Core.Updates;
using TinyMlops.Firmware.Host;
using TinyMlops.Gateway.Configuration;

namespace TinyMlops.Gateway.LocalNode;

/// <summary>
/// The gateway's own wired accelerometer as a node: the firmware core's <see cref="NodeController"/> (the code an
/// ESP32 runs) through <see cref="NodeRunner"/>, reading the sensor through dotnet/iot's bindings on the bus
/// <c>sensorBuses</c> of the board profile names, and speaking MQTT to this gateway's broker under its own id and
/// password, so its events are verified, stored and forwarded like any node's. Its models and boot count live
/// under <c>{DataDirectory}/local-node</c>. Does nothing unless <c>Gateway:LocalNode:Enabled</c>.
/// </summary>
public sealed class LocalNodeService(IOptions<GatewayOptions> options, ISensorBuses buses, ILogger<LocalNodeService> log) : BackgroundService
{
    private NodeRunner? _runner;
    private BindingAccelerometer? _sensor;

    /// <summary>The running node (null until started, or when disabled).</summary>
    public NodeRunner? Runner => _runner;

    /// <inheritdoc />
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        GatewayOptions o = options.Value;
        if (!o.LocalNode.Enabled)
        {
            return;
        }

        BoardProfile board = BoardProfile.Load(o.Board);
        BoardSampling sampling = board.Sampling ?? throw new InvalidDataException($"board '{board.Name}' has no sampling section for a local sensor");
        string sensor = o.LocalNode.Sensor.Length > 0 ? o.LocalNode.Sensor : sampling.Sensor;
        string password = ReadSecret(o.LocalNode.PasswordFile, "password");
        byte[] key;
        try
        {
            key = Convert.FromHexString(ReadSecret(o.LocalNode.KeyFile, "update key"));
        }
        catch (FormatException)
        {
            throw new InvalidDataException($"local node update key file {o.LocalNode.KeyFile} is not hex");
        }

        if (key.Length < 16)
        {
            throw new InvalidDataException($"local node update key in {o.LocalNode.KeyFile} has {key.Length} bytes; it needs at least 16");
        }

        string root = Path.Combine(o.DataDirectory, "local-node");
        NodeConfig config = HostNodeConfig.FromBoard(board, o.LocalNode.NodeId, key, password, o.Mqtt.Mode == BrokerMode.External ? o.Mqtt.Host : "127.0.0.1", o.Mqtt.Port, sensor, o.LocalNode.TelemetrySeconds);

        _sensor = BindingAccelerometer.Open(board, sensor, sampling.RangeG, buses);
        _runner = new NodeRunner(config, _sensor, new FileModelStorage(Path.Combine(root, "models")), new FileModelStorage(Path.Combine(root, "state")), null,
            new NodeRunnerOptions { Host = config.MqttHost, Port = config.MqttPort, Password = password },
            line => log.LogInformation("{Line}", LogText.Safe(line)));
        log.LogInformation("local node {Node}: {Sensor} on {Board}, {Rate} Hz, windows of {Window}", LogText.Safe(config.NodeId), sensor, board.Name, sampling.SampleRateHz, sampling.WindowLength);
        _runner.Start();
        try
        {
            await Task.Delay(Timeout.Infinite, stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    /// <inheritdoc />
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (_runner != null)
        {
            await _runner.DisposeAsync().ConfigureAwait(false);
        }

        _sensor?.Dispose();
    }

    private static string ReadSecret(string path, string what)
    {
        string text;
        try
        {
            text = File.ReadAllText(path).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"local node {what} file {path}: {e.Message}");
        }

        if (text.Length == 0)
        {
            throw new InvalidDataException($"local node {what} file {path} is empty");
        }

        return text;
    }
}
