import Foundation
import PBTTensorBoardProto
import SwiftProtobuf

/// The summary values `pbt tensorboard` writes, as TensorBoard's own writers shape them.
public enum Summaries {
    /// The first record of every event file: its format version (2: no purging of steps that
    /// come out of order, which a member that copies a donor's weights does).
    public static func fileVersion(time: Double) -> Tensorboard_Event {
        var event = Tensorboard_Event()
        event.wallTime = time
        event.fileVersion = "brain.Event:2"
        return event
    }

    /// An event holding `values` at `step`.
    public static func event(time: Double, step: Int, values: [Tensorboard_Summary.Value]) -> Tensorboard_Event {
        var event = Tensorboard_Event()
        event.wallTime = time
        event.step = Int64(step)
        var summary = Tensorboard_Summary()
        summary.value = values
        event.summary = summary
        return event
    }

    /// A scalar: a rank-0 32-bit float tensor of the scalars plugin, as TensorFlow 2 writes
    /// them. TensorBoard holds scalars as 32-bit floats (its data server reads no other kind),
    /// so a score keeps about seven significant digits here; `events.jsonl` has all of them.
    /// `withMetadata`: the first value of its tag in a run says which plugin it is for; later
    /// ones need not.
    public static func scalar(_ tag: String, _ value: Double, withMetadata: Bool) -> Tensorboard_Summary.Value {
        var tensor = Tensorboard_TensorProto()
        tensor.dtype = .dtFloat
        tensor.tensorShape = Tensorboard_TensorShapeProto()
        tensor.floatVal = [Float(value)]
        var summary = Tensorboard_Summary.Value()
        summary.tag = tag
        summary.tensor = tensor
        if withMetadata { summary.metadata = metadata(plugin: "scalars", dataClass: .scalar) }
        return summary
    }

    /// A text (Markdown) summary of the text plugin.
    public static func text(_ tag: String, _ text: String, withMetadata: Bool) -> Tensorboard_Summary.Value {
        var tensor = Tensorboard_TensorProto()
        tensor.dtype = .dtString
        tensor.tensorShape = Tensorboard_TensorShapeProto()
        tensor.stringVal = [Data(text.utf8)]
        var summary = Tensorboard_Summary.Value()
        summary.tag = tag
        summary.tensor = tensor
        if withMetadata { summary.metadata = metadata(plugin: "text", dataClass: .tensor) }
        return summary
    }

    /// The HParams plugin's tags.
    public enum HParamsTag {
        public static let experiment = "_hparams_/experiment"
        public static let sessionStart = "_hparams_/session_start_info"
        public static let sessionEnd = "_hparams_/session_end_info"
    }

    /// A summary of the HParams plugin: its data travels in the metadata, with an empty float
    /// tensor as the value (as the plugin's own writer does it).
    public static func hparams(
        _ tag: String, _ data: Tensorboard_Hparams_HParamsPluginData
    ) -> Tensorboard_Summary.Value {
        var data = data
        data.version = 0
        var tensor = Tensorboard_TensorProto()
        tensor.dtype = .dtFloat
        var dimension = Tensorboard_TensorShapeProto.Dim()
        dimension.size = 0
        tensor.tensorShape.dim = [dimension]
        var summary = Tensorboard_Summary.Value()
        summary.tag = tag
        summary.tensor = tensor
        var metadata = Tensorboard_SummaryMetadata()
        metadata.pluginData.pluginName = "hparams"
        // Serializing a message built in memory cannot fail (no required fields here).
        metadata.pluginData.content = (try? data.serializedBytes()) ?? Data()
        summary.metadata = metadata
        return summary
    }

    static func metadata(plugin: String, dataClass: Tensorboard_DataClass) -> Tensorboard_SummaryMetadata {
        var metadata = Tensorboard_SummaryMetadata()
        metadata.pluginData.pluginName = plugin
        metadata.dataClass = dataClass
        return metadata
    }
}
