using System;
using System.Collections.Generic;
using System.Device.Gpio;
using System.Threading;

namespace TinyMlops.Gateway.Alarms;

/// <summary>Which output is on which GPIO (BCM numbering), from the board profile's <c>alarmPins</c>.</summary>
/// <param name="Red">Stack light red: a confirmed fault in the hold time.</param>
/// <param name="Green">Stack light green: running, no confirmed fault.</param>
/// <param name="Buzzer">Buzzer: sounds for a while after each confirmed fault.</param>
public sealed record AlarmPins(int Red, int Green, int Buzzer)
{
    /// <summary>Reads <c>stackLightRed</c>, <c>stackLightGreen</c> and <c>buzzer</c>.</summary>
    public static AlarmPins From(IReadOnlyDictionary<string, int> pins)
    {
        int Pin(string name) => pins.TryGetValue(name, out int p) ? p : throw new ArgumentException($"the board profile names no '{name}' alarm pin");
        return new AlarmPins(Pin("stackLightRed"), Pin("stackLightGreen"), Pin("buzzer"));
    }
}

/// <summary>
/// The stack light and buzzer, driven through <see cref="GpioController"/>. Green while nothing is wrong; a
/// confirmed fault turns red on (and green off) for the hold time and sounds the buzzer for a shorter time.
/// Owns the controller it is given. Thread-safe; time comes from the caller so the logic is testable.
/// </summary>
public sealed class AlarmPanel : IDisposable
{
    private readonly GpioController _gpio;
    private readonly AlarmPins _pins;
    private readonly TimeSpan _buzzer;
    private readonly TimeSpan _hold;
    private readonly object _gate = new();
    private DateTimeOffset _redUntil = DateTimeOffset.MinValue;
    private DateTimeOffset _buzzUntil = DateTimeOffset.MinValue;

    /// <summary>Opens the three pins as outputs: green on, red and buzzer off.</summary>
    public AlarmPanel(GpioController gpio, AlarmPins pins, TimeSpan buzzer, TimeSpan hold)
    {
        _gpio = gpio;
        _pins = pins;
        _buzzer = buzzer;
        _hold = hold;
        foreach (int p in new[] { pins.Red, pins.Green, pins.Buzzer })
        {
            _gpio.OpenPin(p, PinMode.Output, PinValue.Low);
        }

        _gpio.Write(pins.Green, PinValue.High);
    }

    /// <summary>Last node that raised the alarm, and why.</summary>
    public string? LastAlarm { get; private set; }

    /// <summary>True while the red light is on.</summary>
    public bool IsRaised
    {
        get
        {
            lock (_gate)
            {
                return _gpio.Read(_pins.Red) == PinValue.High;
            }
        }
    }

    /// <summary>A fault was confirmed on <paramref name="node"/> at <paramref name="now"/>.</summary>
    public void Raise(string node, string label, DateTimeOffset now)
    {
        lock (_gate)
        {
            LastAlarm = $"{node}: {label}";
            _redUntil = now + _hold;
            _buzzUntil = now + _buzzer;
            Apply(now);
        }
    }

    /// <summary>Lets the buzzer and the red light time out; call periodically.</summary>
    public void Tick(DateTimeOffset now)
    {
        lock (_gate)
        {
            Apply(now);
        }
    }

    /// <summary>Silences the buzzer (an operator pressed acknowledge); the light stays for the hold time.</summary>
    public void Silence(DateTimeOffset now)
    {
        lock (_gate)
        {
            _buzzUntil = now;
            Apply(now);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        lock (_gate)
        {
            foreach (int p in new[] { _pins.Red, _pins.Green, _pins.Buzzer })
            {
                if (_gpio.IsPinOpen(p))
                {
                    _gpio.Write(p, PinValue.Low);
                    _gpio.ClosePin(p);
                }
            }

            _gpio.Dispose();
        }
    }

    private void Apply(DateTimeOffset now)
    {
        bool red = now < _redUntil;
        _gpio.Write(_pins.Red, red ? PinValue.High : PinValue.Low);
        _gpio.Write(_pins.Green, red ? PinValue.Low : PinValue.High);
        _gpio.Write(_pins.Buzzer, now < _buzzUntil ? PinValue.High : PinValue.Low);
    }
}

/// <summary>
/// A GPIO chip in memory, for hosts without one (and for tests): the same <see cref="GpioDriver"/> interface the
/// gateway uses on the Pi, keeping each pin's level (not a history of writes: a gateway on this driver runs for months,
/// and a list of every write was its one unbounded allocation). Thread-safe.
/// </summary>
public sealed class SimulatedGpioDriver(int pinCount = 28) : GpioDriver
{
    private readonly object _gate = new();
    private readonly Dictionary<int, (PinMode Mode, PinValue Value)> _pins = new();
    /// <summary>The level a pin is driven to (Low when never written).</summary>
    public PinValue Level(int pin)
    {
        lock (_gate)
        {
            return _pins.TryGetValue(pin, out var p) ? p.Value : PinValue.Low;
        }
    }

    /// <inheritdoc />
    protected override int PinCount => pinCount;

    /// <inheritdoc />
    protected override void OpenPin(int pinNumber)
    {
        Check(pinNumber);
        lock (_gate)
        {
            _pins.TryAdd(pinNumber, (PinMode.Input, PinValue.Low));
        }
    }

    /// <inheritdoc />
    protected override void ClosePin(int pinNumber)
    {
        lock (_gate)
        {
            _pins.Remove(pinNumber);
        }
    }

    /// <inheritdoc />
    protected override void SetPinMode(int pinNumber, PinMode mode)
    {
        lock (_gate)
        {
            _pins[pinNumber] = (mode, _pins.TryGetValue(pinNumber, out var p) ? p.Value : PinValue.Low);
        }
    }

    /// <inheritdoc />
    protected override PinMode GetPinMode(int pinNumber)
    {
        lock (_gate)
        {
            return _pins.TryGetValue(pinNumber, out var p) ? p.Mode : throw new InvalidOperationException($"pin {pinNumber} is not open");
        }
    }

    /// <inheritdoc />
    protected override bool IsPinModeSupported(int pinNumber, PinMode mode) => mode is PinMode.Input or PinMode.Output;

    /// <inheritdoc />
    protected override PinValue Read(int pinNumber) => Level(pinNumber);

    /// <inheritdoc />
    protected override void Write(int pinNumber, PinValue value)
    {
        lock (_gate)
        {
            if (!_pins.TryGetValue(pinNumber, out var p) || p.Mode != PinMode.Output)
            {
                throw new InvalidOperationException($"pin {pinNumber} is not open as an output");
            }

            _pins[pinNumber] = (p.Mode, value);
        }
    }

    /// <inheritdoc />
    protected override WaitForEventResult WaitForEvent(int pinNumber, PinEventTypes eventTypes, CancellationToken cancellationToken) =>
        throw new NotSupportedException("the simulated chip has no inputs that change");

    /// <inheritdoc />
    protected override void AddCallbackForPinValueChangedEvent(int pinNumber, PinEventTypes eventTypes, PinChangeEventHandler callback) =>
        throw new NotSupportedException("the simulated chip has no inputs that change");

    /// <inheritdoc />
    protected override void RemoveCallbackForPinValueChangedEvent(int pinNumber, PinChangeEventHandler callback)
    {
    }

    private void Check(int pin)
    {
        if (pin < 0 || pin >= pinCount)
        {
            throw new ArgumentOutOfRangeException(nameof(pin), pin, $"the simulated chip has pins 0..{pinCount - 1}");
        }
    }
}
