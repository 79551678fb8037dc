package datagen

// Official describes the course's official set, the five files of
// dataset.zip in the course's public repository
// (github.com/7574-sistemas-distribuidos/tp0-base, .data/dataset.zip):
// the valid bets of each file, its winners, and its SHA-256, so that a
// round played on that very file (and no file that differs from it by a
// byte) is checked like one played on generated data. The files are not
// part of this repository; their winners are the ones the course gives.
var Official = Summary{Agencies: []AgencyFacts{
	{Agency: 1, Bets: 26936, Winners: 2, SHA256: "6ab3e3a51e96a71ba5be94f93b2e5cd9b9c484e6df2e964c91a100dea3b660e0"},
	{Agency: 2, Bets: 25518, Winners: 3, SHA256: "b8dc9d6f551f60dcbb6cd8d50135f82031532527249bc02c068ef7a4f7102bfa"},
	{Agency: 3, Bets: 16014, Winners: 3, SHA256: "f56e6d7f166124b184a503469e6b84ead51e2e44d4b03bca97a0ed744c283e78"},
	{Agency: 4, Bets: 9238, Winners: 2, SHA256: "ab0736590f91da25608053a39073a063f2ee23f4d3cbcf74fce0b40ac53b8f08"},
	{Agency: 5, Bets: 991, Winners: 0, SHA256: "603c2956a1d1ac8a621394ac6ff68a8f04a801f390fadbe62f36d940d7b61ce7"},
}}
