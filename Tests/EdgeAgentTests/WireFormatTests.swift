import Foundation
import PodWire
import Testing

@Suite struct WireFormatTests {
    @Test func decodesWhatGoSends() throws {
        // Go sends null slices, zero times, fractional seconds with offsets and unknown keys.
        let json = #"""
        {"pod":{"metadata":{"name":"p","namespace":"ns","uid":"u-1","annotations":null,
          "creationTimestamp":"2026-11-25T17:40:45.123456789+01:00"},
          "spec":{"containers":[{"name":"c","image":"busybox","command":null,"args":["a"],"env":null,
            "resources":{"limits":{"memory":"64Mi","cpu":1}}}],"initContainers":null,"volumes":null},
          "status":{"phase":"Pending"}},
         "container":[{"name":"c","configMaps":null,"secrets":null,"projectedvolumemaps":null,"emptyDirs":null,
           "persistentVolumeClaims":null}],
         "jobConfig":{"Image":"","Flags":null}}
        """#
        let data = try JSONDecoder().decode(RetrievedPodData.self, from: Data(json.utf8))
        #expect(data.pod.metadata.uid == "u-1")
        #expect(data.pod.metadata.annotations.isEmpty)
        #expect(data.pod.spec.containers[0].command == [])
        #expect(data.pod.spec.containers[0].resources.limits["cpu"] == "1")
        #expect(data.pod.metadata.creationTimestamp?.rfc3339 == "2026-11-25T16:40:45Z")
        #expect(data.container[0].configMaps.isEmpty)
    }

    @Test func logOptionsTreatGoZeroValuesAsUnset() throws {
        let json = #"{"Namespace":"ns","PodUID":"u","PodName":"p","ContainerName":"c","Opts":{"Tail":0,"Bytes":0,"Timestamps":false,"Follow":false,"Previous":false,"SinceSeconds":0,"SinceTime":"0001-01-01T00:00:00Z"}}"#
        let logs = try JSONDecoder().decode(LogStruct.self, from: Data(json.utf8))
        #expect(logs.opts.sinceTime == nil)
        #expect(logs.opts.limitBytes == 0)
        let later = #"{"PodUID":"u","ContainerName":"c","Opts":{"SinceTime":"2026-11-25T17:40:45.5Z","Bytes":10}}"#
        let parsed = try JSONDecoder().decode(LogStruct.self, from: Data(later.utf8))
        #expect(parsed.opts.sinceTime?.rfc3339Nano == "2026-11-25T17:40:45.500000000Z")
        #expect(parsed.opts.limitBytes == 10)
    }

    @Test func encodesInterLinksKeys() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let created = String(decoding: try encoder.encode(CreateResponse(podUID: "u", podJID: "42")), as: UTF8.self)
        #expect(created == #"{"PodJID":"42","PodUID":"u"}"#)
        let status = PodStatus(name: "p", uid: "u", namespace: "ns", jobID: "42",
                               containers: [ContainerStatus(name: "c", state: ContainerState(terminated: .init(exitCode: 3, reason: "Error")))],
                               initContainers: [])
        let text = String(decoding: try encoder.encode(status), as: UTF8.self)
        #expect(text.contains(#""JID":"42""#) && text.contains(#""UID":"u""#) && text.contains(#""initContainers":[]"#))
        #expect(text.contains(#""terminated":{"exitCode":3,"reason":"Error"}"#))
    }

    @Test func volumeOfUnknownTypeIsKeptByName() throws {
        let json = #"{"name":"data","persistentVolumeClaim":{"claimName":"x"}}"#
        let volume = try JSONDecoder().decode(Volume.self, from: Data(json.utf8))
        #expect(volume.unsupportedTypes == ["persistentVolumeClaim"])
    }

    @Test func timesRoundTrip() throws {
        let time = try #require(WireTime(rfc3339: "1999-12-31T23:59:59Z"))
        #expect(time.secondsSince1970 == 946_684_799)
        #expect(WireTime(rfc3339: "2026-02-30X") == nil)
        #expect(WireTime(secondsSince1970: 0).rfc3339 == "1970-01-01T00:00:00Z")
        // Times no RFC 3339 text can hold are written as the nearest one, never a trap.
        #expect(WireTime(secondsSince1970: 1e300).rfc3339 == "9999-12-31T23:59:59Z")
        #expect(WireTime(secondsSince1970: -.infinity).rfc3339Nano == "0001-01-01T00:00:00.000000000Z")
        #expect(WireTime(secondsSince1970: .nan).rfc3339 == "1970-01-01T00:00:00Z")
    }
}
