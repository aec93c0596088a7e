// SPDX-License-Identifier: MIT
// The interface of Chainalysis' on-chain sanctions oracle (SanctionsList), for the test chain.
pragma solidity ^0.8.24;

contract SanctionsOracle {
    address public immutable owner;
    mapping(address => bool) private _sanctioned;

    event SanctionedAddressesAdded(address[] addrs);
    event SanctionedAddressesRemoved(address[] addrs);

    constructor() {
        owner = msg.sender;
    }

    function addToSanctionsList(address[] calldata addrs) external {
        require(msg.sender == owner, "only the owner");
        for (uint256 i = 0; i < addrs.length; i++) _sanctioned[addrs[i]] = true;
        emit SanctionedAddressesAdded(addrs);
    }

    function removeFromSanctionsList(address[] calldata addrs) external {
        require(msg.sender == owner, "only the owner");
        for (uint256 i = 0; i < addrs.length; i++) _sanctioned[addrs[i]] = false;
        emit SanctionedAddressesRemoved(addrs);
    }

    function isSanctioned(address addr) external view returns (bool) {
        return _sanctioned[addr];
    }
}
