using System;
using TinyMlops.Boards;
using TinyMlops.Firmware.Core.Node;

namespace TinyMlops.Firmware.Host;

/// <summary>
/// The node configuration a host-run controller gets from a board profile: what provisioning writes into an ESP32's
/// node.cfg (sampling, model slot and RAM, pipeline RAM and interpreter speed for the budget), so a node simulated
/// on a host refuses what the device would.
/// </summary>
public static class HostNodeConfig
{
    /// <summary>The configuration of node <paramref name="nodeId"/> on <paramref name="board"/>.</summary>
    public static NodeConfig FromBoard(BoardProfile board, string nodeId, byte[] key, string password, string host, int port, string? sensor = null, int telemetrySeconds = 60)
    {
        BoardSampling sampling = board.Sampling ?? throw new ArgumentException($"board '{board.Name}' has no sampling section");
        if (!Topics.IsAssignableNodeId(nodeId))
        {
            throw new ArgumentException($"'{nodeId}' is not an assignable node id");
        }

        if (key.Length < 16)
        {
            throw new ArgumentException("a node key needs at least 16 bytes");
        }

        return new NodeConfig
        {
            NodeId = nodeId,
            NodeKey = key,
            MqttHost = host,
            MqttPort = port,
            MqttUser = nodeId,
            MqttPassword = password,
            MqttTls = false,
            BoardClass = board.BoardClass,
            Sensor = sensor ?? sampling.Sensor,
            SampleRateHz = sampling.SampleRateHz,
            WindowLength = sampling.WindowLength,
            Bands = sampling.Bands,
            RangeG = sampling.RangeG,
            BaselineWindows = sampling.BaselineWindows,
            BaselineSmoothing = sampling.BaselineSmoothing,
            ModelFlashBytes = board.Memory.ModelFlashBytes,
            ModelRamBytes = board.Memory.ModelRamBytes,
            PipelineRamBytes = board.IsSensorNode ? board.Memory.PipelineRamBytes : 0,
            MacNanoseconds = board.Interpreter?.MacNanoseconds ?? 0,
            TelemetrySeconds = telemetrySeconds,
        };
    }
}
