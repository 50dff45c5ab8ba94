import Foundation
import PBTConfig
import Testing

/// The `resources` section, the thread budget and the dealing of GPU devices: pure logic.
@Suite("Resources")
struct ResourcesTests {
    static let base = """
        name: r
        workload: {kind: noop}
        population: 2
        stop: {max_steps: 4}
        hyperparameters:
          x: {uniform: [0, 1]}

        """

    @Test func theDefaultsAreAutoThreadsAndNoGPUs() throws {
        let experiment = try Experiment.parse(yaml: Self.base)
        #expect(experiment.resources == ResourceSettings(threads: .auto, gpus: 0, shareGPUs: false))
    }

    @Test(arguments: [
        ("resources: {threads: 3}", ResourceSettings(threads: .count(3))),
        ("resources: {threads: auto, gpus: 2}", ResourceSettings(threads: .auto, gpus: 2)),
        (
            "resources: {threads: inherit, gpus: 1, share_gpus: true}",
            ResourceSettings(threads: .inherit, gpus: 1, shareGPUs: true)
        ),
        ("resources: {threads: \"4\"}", ResourceSettings(threads: .count(4))),
    ])
    func aSectionParses(_ text: String, _ expected: ResourceSettings) throws {
        #expect(try Experiment.parse(yaml: Self.base + text).resources == expected)
    }

    @Test(arguments: [
        ("resources: {threads: 0}", "resources.threads"),
        ("resources: {threads: -2}", "resources.threads"),
        ("resources: {threads: lots}", "auto, inherit or a number"),
        ("resources: {threads: 2.5}", "resources.threads"),
        ("resources: {gpus: 17}", "resources.gpus"),
        ("resources: {cpus: 2}", "unknown field 'cpus'"),
        ("resources: {share_gpus: yes please}", "resources.share_gpus"),
        ("resources: 4", "resources"),
    ])
    func aBadSectionNamesTheField(_ text: String, _ mention: String) {
        do {
            _ = try Experiment.parse(yaml: Self.base + text)
            Issue.record("\(text) was accepted")
        } catch {
            #expect("\(error)".contains(mention), "\(error)")
        }
    }

    @Test func theMachinesCoresAreSharedByItsTrainersAtLeastOneEach() {
        #expect(ThreadBudget.shared(cores: 8, trainers: 2).threads == 4)
        #expect(ThreadBudget.shared(cores: 8, trainers: 3).threads == 2)
        #expect(ThreadBudget.shared(cores: 2, trainers: 4).threads == 1)
        #expect(ThreadBudget.shared(cores: 0, trainers: 0).threads == 1)
        #expect(ThreadBudget.shared(cores: 2, trainers: 2).source == "2 cores ÷ 2 trainers")
    }

    @Test func theExperimentsNumberWinsThenTheGivenOneThenTheQuotaThenTheCores() {
        #expect(ThreadBudget.resolve(experiment: .count(3), given: .count(5), quota: 2, cores: 8)?.threads == 3)
        #expect(ThreadBudget.resolve(experiment: .inherit, given: .count(5), quota: 2, cores: 8) == nil)
        #expect(ThreadBudget.resolve(experiment: .auto, given: .count(5), quota: 2, cores: 8)?.threads == 5)
        #expect(ThreadBudget.resolve(experiment: .auto, given: .inherit, quota: 2, cores: 8) == nil)
        #expect(ThreadBudget.resolve(experiment: .auto, given: .auto, quota: 2, cores: 8)?.threads == 2)
        #expect(ThreadBudget.resolve(experiment: .auto, given: nil, quota: nil, cores: 8)?.threads == 8)
    }

    @Test func theUsersOwnVariablesWinOverTheBudgetAndTheDevices() {
        let budget = ThreadBudget(threads: 2, source: "test")
        let environment = ThreadBudget.environment(
            budget: budget, devices: ["1", "3"],
            user: ["MKL_NUM_THREADS": "6", "CUDA_VISIBLE_DEVICES": "", "DATA": "/d"])
        for variable in ThreadBudget.variables where variable != "MKL_NUM_THREADS" {
            #expect(environment[variable] == "2", "\(variable)")
        }
        #expect(environment["MKL_NUM_THREADS"] == "6")
        #expect(environment["CUDA_VISIBLE_DEVICES"] == "")
        #expect(environment["DATA"] == "/d")
        #expect(ThreadBudget.environment(budget: nil, devices: nil, user: ["A": "b"]) == ["A": "b"])
        #expect(ThreadBudget.environment(budget: nil, devices: ["0"], user: [:]) == ["CUDA_VISIBLE_DEVICES": "0"])
    }

    @Test func devicesAreDealtInOrderWithoutOverlap() throws {
        let dealt = try DeviceAssignment.assign(
            devices: ["0", "1", "2", "3"], trainers: 2, perTrainer: 2, share: false
        ).get()
        #expect(dealt == [["0", "1"], ["2", "3"]])
        #expect(
            try DeviceAssignment.assign(devices: ["0", "1", "2"], trainers: 2, perTrainer: 1, share: false).get() == [
                ["0"], ["1"],
            ])
    }

    @Test func tooFewDevicesAreRefusedUnlessSharingIsAllowed() throws {
        guard
            case .failure(let problem) = DeviceAssignment.assign(
                devices: ["0", "1"], trainers: 3, perTrainer: 1, share: false)
        else {
            Issue.record("3 trainers on 2 devices were accepted")
            return
        }
        #expect(problem.description.contains("3 trainers × 1 GPU need 3 devices"))
        #expect(problem.description.contains("share_gpus"))
        #expect(
            try DeviceAssignment.assign(devices: ["0", "1"], trainers: 3, perTrainer: 1, share: true).get() == [
                ["0"], ["1"], ["0"],
            ])
        #expect(throws: DeviceListError.self) {
            try DeviceAssignment.assign(devices: [], trainers: 1, perTrainer: 1, share: true).get()
        }
        #expect(throws: DeviceListError.self) {
            try DeviceAssignment.assign(devices: ["0"], trainers: 1, perTrainer: 2, share: true).get()
        }
    }

    @Test func aDeviceListIsIdsSeparatedByCommas() throws {
        #expect(try DeviceAssignment.parse("0,1, 2").get() == ["0", "1", "2"])
        #expect(try DeviceAssignment.parse("GPU-8f2c1e0a-aaaa").get() == ["GPU-8f2c1e0a-aaaa"])
        for bad in ["", "0,,1", "0,0", "0;rm -rf", "1 2"] {
            #expect(throws: DeviceListError.self, "\(bad)") { try DeviceAssignment.parse(bad).get() }
        }
    }
}
