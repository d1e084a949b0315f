// A native REAPI client for bench/cache_bench.py's timed read phases (--client native).
//
// Real REAPI clients (Bazel, BuildBuddy, buildbox) are not Python. The bench's Python
// clients spend 1-2 ms of CPU per MiB parsing ByteStream responses, on the two CPUs the
// server uses too, so they bound the read figures before any server does. This client
// does exactly what the Python client does in a read phase, and nothing else:
//
//   batch  SPEC   BatchReadBlobs of each batch in SPEC (written by cache_bench.py: a
//                 "BATCHES COUNT" line, then per blob a "HASH SIZE" line and its bytes);
//                 every response must carry the requested digests, in order, status OK
//                 and exactly the uploaded bytes.
//   bytestream SPEC   ByteStream Read of each "RESOURCE_NAME SIZE" line in SPEC; each
//                 read must end OK with exactly SIZE bytes.
//   bare   COUNT  COUNT reads of the bare ceiling server's /bare.Bare/ReadStream.
//
// Protocol with cache_bench.py (so the phase starts on the same barrier as the Python
// clients): connect and build every request, print "ready", wait for a line on stdin,
// run, print "SECONDS ITEMS BYTES CPU_SECONDS" (wall time and this process's CPU, all
// threads, over the run only), exit 0. A failed check prints why on stderr, exits 1.

#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/grpcpp.h>

#include "bare.grpc.pb.h"
#include "build/bazel/remote/execution/v2/remote_execution.grpc.pb.h"
#include "google/bytestream/bytestream.grpc.pb.h"

namespace re = build::bazel::remote::execution::v2;
namespace bs = google::bytestream;

namespace {

constexpr int kMaxMessage = 64 << 20;  // As the Python clients' CHANNEL_OPTIONS.

[[noreturn]] void fail(const std::string& why) {
  std::cerr << "reapi_read: " << why << std::endl;
  std::exit(1);
}

double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

struct Work {
  long items = 0;
  long bytes = 0;
};

struct Blob {
  std::string hash;
  long size = 0;
  std::string data;
};

std::shared_ptr<grpc::Channel> connect(const std::string& target) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessage);
  args.SetMaxSendMessageSize(kMaxMessage);
  auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  // Connected before "ready": the Python clients' channels are too, by their untimed
  // uploads on the same server.
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(60))) {
    fail("could not connect to " + target);
  }
  return channel;
}

class BatchReads {
 public:
  BatchReads(std::shared_ptr<grpc::Channel> channel, const std::string& instance,
             const std::string& spec)
      : stub_(re::ContentAddressableStorage::NewStub(channel)) {
    std::ifstream in(spec, std::ios::binary);
    long batches = 0, count = 0;
    if (!(in >> batches >> count) || in.get() != '\n') fail("bad spec header in " + spec);
    for (long b = 0; b < batches; ++b) {
      re::BatchReadBlobsRequest request;
      request.set_instance_name(instance);
      std::vector<Blob> blobs(count);
      for (auto& blob : blobs) {
        if (!(in >> blob.hash >> blob.size) || in.get() != '\n') fail("bad blob line in " + spec);
        blob.data.resize(blob.size);
        if (!in.read(blob.data.data(), blob.size)) fail("short blob in " + spec);
        auto* digest = request.add_digests();
        digest->set_hash(blob.hash);
        digest->set_size_bytes(blob.size);
      }
      requests_.push_back(std::move(request));
      expected_.push_back(std::move(blobs));
    }
  }

  Work operator()() {
    Work work;
    for (size_t b = 0; b < requests_.size(); ++b) {
      grpc::ClientContext context;
      re::BatchReadBlobsResponse response;
      grpc::Status status = stub_->BatchReadBlobs(&context, requests_[b], &response);
      if (!status.ok()) fail("BatchReadBlobs: " + status.error_message());
      const auto& blobs = expected_[b];
      if (response.responses_size() != static_cast<int>(blobs.size())) {
        fail("BatchReadBlobs: wrong number of responses");
      }
      for (size_t i = 0; i < blobs.size(); ++i) {
        const auto& got = response.responses(static_cast<int>(i));
        if (got.status().code() != 0 || got.digest().hash() != blobs[i].hash ||
            got.digest().size_bytes() != blobs[i].size || got.data() != blobs[i].data) {
          fail("BatchReadBlobs: blob " + blobs[i].hash + " not served as uploaded");
        }
        work.bytes += blobs[i].size;
      }
      work.items += static_cast<long>(blobs.size());
    }
    return work;
  }

 private:
  std::unique_ptr<re::ContentAddressableStorage::Stub> stub_;
  std::vector<re::BatchReadBlobsRequest> requests_;
  std::vector<std::vector<Blob>> expected_;
};

// A server-streaming read of `request`, counting what arrives; fails unless it ends OK
// with `size` bytes (size < 0: any).
template <typename Stub>
long stream_read(Stub& call, const bs::ReadRequest& request, long size, const char* what) {
  grpc::ClientContext context;
  auto reader = call(&context, request);
  bs::ReadResponse response;
  long total = 0;
  while (reader->Read(&response)) total += static_cast<long>(response.data().size());
  grpc::Status status = reader->Finish();
  if (!status.ok()) fail(std::string(what) + ": " + status.error_message());
  if (size >= 0 && total != size) {
    fail(std::string(what) + ": " + request.resource_name() + " gave " + std::to_string(total) +
         " bytes, not " + std::to_string(size));
  }
  return total;
}

class ByteStreamReads {
 public:
  ByteStreamReads(std::shared_ptr<grpc::Channel> channel, const std::string& spec)
      : stub_(bs::ByteStream::NewStub(channel)) {
    std::ifstream in(spec);
    std::string name;
    long size = 0;
    while (in >> name >> size) {
      bs::ReadRequest request;
      request.set_resource_name(name);
      reads_.emplace_back(std::move(request), size);
    }
    if (reads_.empty()) fail("no reads in " + spec);
  }

  Work operator()() {
    Work work;
    auto call = [this](grpc::ClientContext* c, const bs::ReadRequest& r) {
      return stub_->Read(c, r);
    };
    for (const auto& [request, size] : reads_) {
      work.bytes += stream_read(call, request, size, "ByteStream Read");
      ++work.items;
    }
    return work;
  }

 private:
  std::unique_ptr<bs::ByteStream::Stub> stub_;
  std::vector<std::pair<bs::ReadRequest, long>> reads_;
};

class BareReads {
 public:
  BareReads(std::shared_ptr<grpc::Channel> channel, long count)
      : stub_(bare::Bare::NewStub(channel)), count_(count) {}

  Work operator()() {
    Work work;
    auto call = [this](grpc::ClientContext* c, const bs::ReadRequest& r) {
      return stub_->ReadStream(c, r);
    };
    const bs::ReadRequest request;
    for (long i = 0; i < count_; ++i) {
      work.bytes += stream_read(call, request, -1, "bare ReadStream");
      ++work.items;
    }
    return work;
  }

 private:
  std::unique_ptr<bare::Bare::Stub> stub_;
  long count_;
};

template <typename Reads>
int timed(Reads& reads) {
  std::cout << "ready" << std::endl;
  std::string go;
  if (!std::getline(std::cin, go)) fail("no start line on stdin");
  const double cpu = cpu_seconds();
  const auto start = std::chrono::steady_clock::now();
  const Work work = reads();
  const std::chrono::duration<double> seconds = std::chrono::steady_clock::now() - start;
  const double used = cpu_seconds() - cpu;
  std::printf("%.9f %ld %ld %.6f\n", seconds.count(), work.items, work.bytes, used);
  std::fflush(stdout);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: reapi_read HOST:PORT INSTANCE batch|bytestream|bare SPEC|COUNT\n";
    return 2;
  }
  const std::string target = argv[1], instance = argv[2], mode = argv[3], spec = argv[4];
  auto channel = connect(target);
  if (mode == "batch") {
    BatchReads reads(channel, instance, spec);
    return timed(reads);
  }
  if (mode == "bytestream") {
    ByteStreamReads reads(channel, spec);
    return timed(reads);
  }
  if (mode == "bare") {
    BareReads reads(channel, std::atol(spec.c_str()));
    return timed(reads);
  }
  std::cerr << "reapi_read: unknown mode " << mode << "\n";
  return 2;
}
