// Hostile clients against `treaty serve` for a while, for the benchmark of other clients' latency
// under attack (scripts/bench_hostile.sh): the attacks of tests/server/attacks.hpp, which the
// hostile-client tests check one by one, here all at once.
//
//   attack --port P --seconds S [--slow N] [--idle N] [--malformed K] [--request JSON]
//
// --slow N: N connections each sending a request a byte a second; --idle N: N connections that
// send nothing; --malformed K: K connections in turn sending JSON nested a million deep,
// pipelined garbage, and a large batch they vanish in the middle of. --request is the valid
// native request the malformed clients pipeline and batch. Prints one JSON line of what ran.
#include <iostream>
#include <string>

#include "../tests/server/attacks.hpp"

int main(int argc, char** argv) {
  unsigned short port = 0;
  double seconds = 5;
  std::size_t slow = 50, idle = 2000, malformed = 1;
  std::string request =
      R"({"principal":{"type":"user","id":"alice"},"action":{"name":"read"},"resource":{"type":"record","id":"record-1"}})";
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) {
      std::cerr << "attack: " << k << " needs a value\n";
      return 2;
    }
    const std::string v = argv[++i];
    try {
      if (k == "--port") port = static_cast<unsigned short>(std::stoi(v));
      else if (k == "--seconds") seconds = std::stod(v);
      else if (k == "--slow") slow = std::stoul(v);
      else if (k == "--idle") idle = std::stoul(v);
      else if (k == "--malformed") malformed = std::stoul(v);
      else if (k == "--request") request = v;
      else {
        std::cerr << "attack: unknown option " << k << "\n";
        return 2;
      }
    } catch (const std::exception&) {
      std::cerr << "attack: " << k << " takes a number, not `" << v << "`\n";
      return 2;
    }
  }
  if (port == 0) {
    std::cerr << "usage: attack --port P --seconds S [--slow N] [--idle N] [--malformed K] [--request JSON]\n";
    return 2;
  }
  const std::size_t files = treaty_attack::raise_open_files();
  if (idle + slow + malformed + 64 > files) idle = files > slow + malformed + 64 ? files - slow - malformed - 64 : 0;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  threads.reserve(2 + malformed);  // (and g++ 12 -O3 sees no reallocation to warn falsely about)
  threads.emplace_back([&] { treaty_attack::slow_clients(port, slow, stop); });
  threads.emplace_back([&] { treaty_attack::idle_connections(port, idle, stop); });
  for (std::size_t i = 0; i < malformed; ++i)
    threads.emplace_back([&] { treaty_attack::malformed_clients(port, request, stop); });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& t : threads) t.join();
  std::cout << "{\"slow\":" << slow << ",\"idle\":" << idle << ",\"malformed\":" << malformed
            << ",\"seconds\":" << seconds << "}\n";
  return 0;
}
